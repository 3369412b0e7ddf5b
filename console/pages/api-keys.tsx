import type { ApiKeyView } from '../../domain/api-keys/keys';
import { apiKeyScopes } from '../../domain/api-keys/scopes';
import type { ConsoleSession, Flash } from '../deps';
import { when } from '../format';
import { BASE, Csrf, Layout, Notice } from '../layout';

/** The keys with their scopes and last use, a form to make one, and the new key shown once. */
export function ApiKeysPage(props: {
  session: ConsoleSession;
  keys: ApiKeyView[];
  created?: { id: string; name: string; key: string };
  errors?: string[];
  flash?: Flash;
}) {
  return (
    <Layout title="API keys" section="api-keys" session={props.session}>
      <Notice flash={props.flash} />
      {props.created ? (
        <div class="notice" role="status">
          <p>
            Key <strong>{props.created.name}</strong> created. Copy it now: it is not shown again.
          </p>
          <p class="secret mono" id="new-key">
            {props.created.key}
          </p>
        </div>
      ) : null}
      <h2>New key</h2>
      {props.errors?.length ? (
        <ul class="notice error" role="alert" id="key-errors">
          {props.errors.map((e) => (
            <li>{e}</li>
          ))}
        </ul>
      ) : null}
      <form method="post" action={`${BASE}/api-keys`} class="stack narrow">
        <Csrf session={props.session} />
        <label for="key-name">Name</label>
        <input id="key-name" name="name" maxlength={100} required />
        <fieldset>
          <legend>Scopes</legend>
          {apiKeyScopes.map((scope) => (
            <label class="check">
              <input type="checkbox" name="scopes" value={scope} /> {scope}
            </label>
          ))}
        </fieldset>
        <button type="submit">Create key</button>
      </form>
      <h2>Keys</h2>
      {props.keys.length === 0 ? (
        <p>No keys.</p>
      ) : (
        <table>
          <thead>
            <tr>
              <th scope="col">Name</th>
              <th scope="col">Id</th>
              <th scope="col">Scopes</th>
              <th scope="col">Created</th>
              <th scope="col">Last used</th>
              <th scope="col">
                <span class="visually-hidden">Actions</span>
              </th>
            </tr>
          </thead>
          <tbody>
            {props.keys.map((k) => (
              <tr data-key-id={k.id}>
                <td>{k.name}</td>
                <td class="mono">{k.id}</td>
                <td>{k.scopes.join(', ')}</td>
                <td>{when(k.createdAt)}</td>
                <td>{k.lastUsedAt ? when(k.lastUsedAt) : 'never'}</td>
                <td>
                  <form method="post" action={`${BASE}/api-keys/${k.id}/delete`}>
                    <Csrf session={props.session} />
                    <button type="submit" class="danger" aria-label={`Delete key ${k.name}`}>
                      Delete
                    </button>
                  </form>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </Layout>
  );
}
