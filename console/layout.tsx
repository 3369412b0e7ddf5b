import type { Child } from 'hono/jsx';
import type { ConsoleSession, Flash } from './deps';

export const BASE = '/console';

const nav = [
  { href: `${BASE}/orders`, label: 'Orders', key: 'orders' },
  { href: `${BASE}/review`, label: 'Review queue', key: 'review' },
  { href: `${BASE}/webhooks`, label: 'Webhooks', key: 'webhooks' },
  { href: `${BASE}/api-keys`, label: 'API keys', key: 'api-keys' },
] as const;

export type Section = (typeof nav)[number]['key'] | 'sign-in';

/** A hidden field with the session's CSRF token: every form that changes something carries one. */
export function Csrf({ session }: { session: ConsoleSession }) {
  return <input type="hidden" name="_csrf" value={session.csrf} />;
}

/** A one-time notice; an order it names shows its live status. */
export function Notice({ flash }: { flash: Flash | undefined }) {
  if (!flash) return null;
  return (
    <div class={`notice ${flash.kind}`} role={flash.kind === 'error' ? 'alert' : 'status'}>
      <p>{flash.text}</p>
      {flash.orderId ? (
        <p>
          <a href={`${BASE}/orders/${flash.orderId}`}>{flash.orderId}</a> is now{' '}
          <span class="status" data-order-status={flash.orderId}>
            {flash.status ?? ''}
          </span>
        </p>
      ) : null}
    </div>
  );
}

/**
 * Every page's frame: one stylesheet and one script, both served by the console itself (no CDN, no
 * web font: the system font stack). Data reaches the page only as JSX text, which is escaped.
 */
export function Layout(props: {
  title: string;
  section: Section;
  session?: ConsoleSession;
  live?: boolean;
  /** Which arrivals the page counts live: new orders (the orders list) or orders entering review. */
  arrivals?: { kind: 'new' | 'review'; href: string };
  children: Child;
}) {
  const { title, section, session } = props;
  return (
    <html lang="en">
      <head>
        <meta charset="utf-8" />
        <meta name="viewport" content="width=device-width, initial-scale=1" />
        <title>{`${title} · Orderflow console`}</title>
        <link rel="stylesheet" href={`${BASE}/assets/console.css`} />
        <script src={`${BASE}/assets/console.js`} defer />
      </head>
      <body data-live={props.live ? 'on' : undefined}>
        <a class="skip" href="#main">
          Skip to content
        </a>
        <header>
          <span class="brand">Orderflow console</span>
          {session ? (
            <>
              <nav aria-label="Sections">
                <ul>
                  {nav.map((item) => (
                    <li>
                      <a href={item.href} aria-current={item.key === section ? 'page' : undefined}>
                        {item.label}
                      </a>
                    </li>
                  ))}
                </ul>
              </nav>
              <form method="post" action={`${BASE}/sign-out`} class="sign-out">
                <Csrf session={session} />
                <span class="who">{session.email}</span> <button type="submit">Sign out</button>
              </form>
            </>
          ) : null}
        </header>
        <main id="main">
          <h1>{title}</h1>
          {props.live ? (
            <p class="live" aria-live="polite" data-live-state>
              Live updates: connecting
            </p>
          ) : null}
          {props.arrivals ? (
            <p class="notice" data-arrivals={props.arrivals.kind} hidden>
              <span data-arrivals-text /> <a href={props.arrivals.href}>Show them</a>
            </p>
          ) : null}
          {props.children}
        </main>
      </body>
    </html>
  );
}
