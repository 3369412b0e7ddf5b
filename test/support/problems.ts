import { expect } from 'bun:test';

/** The RFC 9457 body every error answer carries. */
export interface ProblemBody {
  type: string;
  title: string;
  status: number;
  detail: string;
  instance?: string;
  errors?: { field: string; message: string }[];
}

/**
 * Asserts that `res` is a problem+json answer with `status` and a complete body; returns the body.
 * With `fields`, also asserts a validation `errors` array naming each of them.
 */
export async function expectProblem(
  res: Response,
  status: number,
  fields: string[] = [],
): Promise<ProblemBody> {
  const text = await res.text();
  expect({ status: res.status, body: text }).toMatchObject({ status });
  expect(res.headers.get('content-type') ?? '').toStartWith('application/problem+json');
  const body = JSON.parse(text) as ProblemBody;
  expect(typeof body.type).toBe('string');
  expect(body.type.length).toBeGreaterThan(0);
  expect(typeof body.title).toBe('string');
  expect(body.title.length).toBeGreaterThan(0);
  expect(body.status).toBe(status);
  expect(typeof body.detail).toBe('string');
  expect(body.detail.length).toBeGreaterThan(0);
  // Nothing internal leaks into an error answer.
  expect(text).not.toContain('    at ');
  if (fields.length > 0) {
    expect(Array.isArray(body.errors)).toBe(true);
    const named = (body.errors ?? []).map((e) => e.field);
    for (const field of fields) expect(named).toContain(field);
    for (const e of body.errors ?? []) expect(typeof e.message).toBe('string');
  }
  return body;
}

/** Reads a JSON answer after checking its status (the body is shown when the status differs). */
export async function expectJson<T>(res: Response, status: number): Promise<T> {
  const text = await res.text();
  expect({ status: res.status, body: text }).toMatchObject({ status });
  expect(res.headers.get('content-type') ?? '').toStartWith('application/json');
  return JSON.parse(text) as T;
}
