import type { ApiKeyView } from '../../domain/api-keys/keys';
import { apiKeyScopes } from '../../domain/api-keys/scopes';
import type { ConsoleSession, Flash } from '../deps';
import { when } from '../format';
import { BASE, Csrf, Layout, Notice } from '../layout';
import { Checkboxes, CreateForm, FormErrors, Listing, ShownOnce } from '../parts';

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
        <ShownOnce id="new-key" secret={props.created.key}>
          Key <strong>{props.created.name}</strong> created. Copy it now: it is not shown again.
        </ShownOnce>
      ) : null}
      <h2>New key</h2>
      <FormErrors id="key-errors" errors={props.errors} />
      <CreateForm action={`${BASE}/api-keys`} session={props.session} submit="Create key">
        <label for="key-name">Name</label>
        <input id="key-name" name="name" maxlength={100} required />
        <Checkboxes legend="Scopes" name="scopes" values={apiKeyScopes} />
      </CreateForm>
      <h2>Keys</h2>
      <Listing
        items={props.keys}
        columns={['Name', 'Id', 'Scopes', 'Created', 'Last used']}
        empty="No keys."
        row={(k) => (
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
        )}
      />
    </Layout>
  );
}
