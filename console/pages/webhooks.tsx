import { eventTypes } from '../../domain/outbox/types';
import type { DeliveryView } from '../../domain/webhooks/deliveries';
import type { EndpointView } from '../../domain/webhooks/endpoints';
import type { ConsoleSession, Flash } from '../deps';
import { when } from '../format';
import { BASE, Csrf, Layout, Notice } from '../layout';
import { Checkboxes, CreateForm, FormErrors, Listing, ShownOnce } from '../parts';

/** The endpoints, a form to add one, and a new endpoint's signing secret shown once. */
export function WebhooksPage(props: {
  session: ConsoleSession;
  endpoints: EndpointView[];
  created?: { id: string; url: string; secret: string };
  errors?: string[];
  flash?: Flash;
}) {
  return (
    <Layout title="Webhooks" section="webhooks" session={props.session}>
      <Notice flash={props.flash} />
      {props.created ? (
        <ShownOnce id="new-secret" secret={props.created.secret}>
          Endpoint <a href={`${BASE}/webhooks/${props.created.id}`}>{props.created.url}</a> added. Its signing
          secret, shown this once:
        </ShownOnce>
      ) : null}
      <h2>New endpoint</h2>
      <FormErrors id="endpoint-errors" errors={props.errors} />
      <CreateForm action={`${BASE}/webhooks`} session={props.session} submit="Add endpoint">
        <label for="endpoint-url">URL</label>
        <input id="endpoint-url" name="url" type="url" required placeholder="https://erp.example.com/hooks" />
        <label for="endpoint-description">Description</label>
        <input id="endpoint-description" name="description" maxlength={200} />
        <Checkboxes
          legend="Events"
          name="events"
          values={['*', ...eventTypes]}
          label={(t) => (t === '*' ? 'every event (*)' : t)}
        />
      </CreateForm>
      <h2>Endpoints</h2>
      <Listing
        items={props.endpoints}
        columns={['URL', 'Events', 'Status', 'Created']}
        empty="No endpoints."
        row={(e) => (
          <tr data-endpoint-id={e.id}>
            <td>
              <a href={`${BASE}/webhooks/${e.id}`}>{e.url}</a>
              {e.description ? <div class="muted">{e.description}</div> : null}
            </td>
            <td>{e.events.join(', ')}</td>
            <td>
              {e.status}
              {e.disabledReason ? <div class="muted">{e.disabledReason}</div> : null}
            </td>
            <td>{when(e.createdAt)}</td>
            <td>
              <form method="post" action={`${BASE}/webhooks/${e.id}/status`} class="inline">
                <Csrf session={props.session} />
                <input type="hidden" name="status" value={e.status === 'enabled' ? 'disabled' : 'enabled'} />
                <button
                  type="submit"
                  aria-label={`${e.status === 'enabled' ? 'Disable' : 'Enable'} ${e.url}`}
                >
                  {e.status === 'enabled' ? 'Disable' : 'Enable'}
                </button>
              </form>{' '}
              <form method="post" action={`${BASE}/webhooks/${e.id}/delete`} class="inline">
                <Csrf session={props.session} />
                <button type="submit" class="danger" aria-label={`Delete ${e.url}`}>
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

/** One endpoint's deliveries, newest first, each with its status, attempts, last answer and "Retry". */
export function DeliveriesPage(props: {
  session: ConsoleSession;
  endpoint: EndpointView;
  deliveries: DeliveryView[];
  nextCursor: string | null;
  flash?: Flash;
}) {
  const { endpoint } = props;
  return (
    <Layout title={`Deliveries to ${endpoint.url}`} section="webhooks" session={props.session}>
      <Notice flash={props.flash} />
      <p>
        {endpoint.status}
        {endpoint.disabledReason ? ` (${endpoint.disabledReason})` : ''} · events {endpoint.events.join(', ')}{' '}
        · <a href={`${BASE}/webhooks`}>All endpoints</a>
      </p>
      <Listing
        items={props.deliveries}
        columns={['Event', 'When', 'Status', 'Attempts', 'Last answer']}
        empty="No deliveries yet."
        row={(d) => (
          <tr data-delivery-id={d.id}>
            <td>
              {d.type}
              <div class="muted mono">{d.eventId}</div>
            </td>
            <td>{when(d.createdAt)}</td>
            <td>
              {d.status}
              {d.nextAttemptAt ? <div class="muted">{`next ${when(d.nextAttemptAt)}`}</div> : null}
            </td>
            <td>{d.attempts}</td>
            <td>{d.lastStatusCode !== undefined ? `HTTP ${d.lastStatusCode}` : (d.lastError ?? '—')}</td>
            <td>
              <form method="post" action={`${BASE}/webhooks/deliveries/${d.id}/retry`}>
                <Csrf session={props.session} />
                <input type="hidden" name="endpoint" value={endpoint.id} />
                <button type="submit" aria-label={`Retry delivery ${d.id}`}>
                  Retry
                </button>
              </form>
            </td>
          </tr>
        )}
      />
      {props.nextCursor ? (
        <p>
          <a
            href={`${BASE}/webhooks/${endpoint.id}?cursor=${encodeURIComponent(props.nextCursor)}`}
            rel="next"
          >
            Older deliveries
          </a>
        </p>
      ) : null}
    </Layout>
  );
}
