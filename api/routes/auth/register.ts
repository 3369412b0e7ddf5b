import { createRoute, z } from '@hono/zod-openapi';
import { registerUser } from '../../../domain/users/users';
import { jsonBody, jsonResponse, problem, trimmedText } from '../../schemas';
import type { AuthRouter } from './router';
import { bodyProblems, Email, hashingBusy, Password, User } from './schemas';

const Phone = z.string().regex(/^\+[1-9][0-9]{6,14}$/, 'must be E.164, e.g. +14155550123');

const RegisterBody = z
  .strictObject({
    email: Email,
    password: Password,
    name: trimmedText(100),
    phone: Phone.optional(),
  })
  .openapi('RegisterRequest');

export function registerRoute({ app, deps }: AuthRouter): void {
  app.openapi(
    createRoute({
      method: 'post',
      path: '/register',
      summary: 'Register a user account',
      tags: ['auth'],
      request: { body: jsonBody(RegisterBody) },
      responses: {
        201: jsonResponse(User, 'The new user'),
        ...bodyProblems,
        409: problem('The email is taken'),
        ...hashingBusy,
      },
    }),
    async (c) => {
      const body = c.req.valid('json');
      const user = await registerUser(deps.db, deps.config.piiKey, body);
      return c.json(user, 201);
    },
  );
}
