import { eventTypes } from '../../domain/outbox/types';
import type { DeliveryView } from '../../domain/webhooks/deliveries';
import type { EndpointView } from '../../domain/webhooks/endpoints';
import type { ConsoleSession, Flash } from '../deps';
import { when } from '../format';
import { BASE, Csrf, Layout, Notice } from '../layout';

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
        <div class="notice" role="status">
          <p>
            Endpoint <a href={`${BASE}/webhooks/${props.created.id}`}>{props.created.url}</a> added. Its
            signing secret, shown this once:
          </p>
          <p class="secret mono" id="new-secret">
            {props.created.secret}
          </p>
        </div>
      ) : null}
      <h2>New endpoint</h2>
      {props.errors?.length ? (
        <ul class="notice error" role="alert" id="endpoint-errors">
          {props.errors.map((e) => (
            <li>{e}</li>
          ))}
        </ul>
      ) : null}
      <form method="post" action={`${BASE}/webhooks`} class="stack narrow">
        <Csrf session={props.session} />
        <label for="endpoint-url">URL</label>
        <input id="endpoint-url" name="url" type="url" required placeholder="https://erp.example.com/hooks" />
        <label for="endpoint-description">Description</label>
        <input id="endpoint-description" name="description" maxlength={200} />
        <fieldset>
          <legend>Events</legend>
          <label class="check">
            <input type="checkbox" name="events" value="*" /> every event (*)
          </label>
          {eventTypes.map((t) => (
            <label class="check">
              <input type="checkbox" name="events" value={t} /> {t}
            </label>
          ))}
        </fieldset>
        <button type="submit">Add endpoint</button>
      </form>
      <h2>Endpoints</h2>
      {props.endpoints.length === 0 ? (
        <p>No endpoints.</p>
      ) : (
        <table>
          <thead>
            <tr>
              <th scope="col">URL</th>
              <th scope="col">Events</th>
              <th scope="col">Status</th>
              <th scope="col">Created</th>
              <th scope="col">
                <span class="visually-hidden">Actions</span>
              </th>
            </tr>
          </thead>
          <tbody>
            {props.endpoints.map((e) => (
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
                    <input
                      type="hidden"
                      name="status"
                      value={e.status === 'enabled' ? 'disabled' : 'enabled'}
                    />
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
            ))}
          </tbody>
        </table>
      )}
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
      {props.deliveries.length === 0 ? (
        <p>No deliveries yet.</p>
      ) : (
        <table>
          <thead>
            <tr>
              <th scope="col">Event</th>
              <th scope="col">When</th>
              <th scope="col">Status</th>
              <th scope="col">Attempts</th>
              <th scope="col">Last answer</th>
              <th scope="col">
                <span class="visually-hidden">Actions</span>
              </th>
            </tr>
          </thead>
          <tbody>
            {props.deliveries.map((d) => (
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
            ))}
          </tbody>
        </table>
      )}
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
