import { BASE, Layout } from '../layout';

/** The sign-in form; `error` says why the last attempt was refused. */
export function SignInPage({ error, email }: { error?: string; email?: string }) {
  return (
    <Layout title="Sign in" section="sign-in">
      {error ? (
        <p class="notice error" role="alert" id="sign-in-error">
          {error}
        </p>
      ) : null}
      <form method="post" action={`${BASE}/sign-in`} class="stack narrow">
        <label for="email">Email</label>
        <input id="email" name="email" type="email" autocomplete="username" required value={email ?? ''} />
        <label for="password">Password</label>
        <input id="password" name="password" type="password" autocomplete="current-password" required />
        <button type="submit">Sign in</button>
      </form>
    </Layout>
  );
}
