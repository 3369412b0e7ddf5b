import type { Child } from 'hono/jsx';
import type { ConsoleSession } from './deps';
import { Csrf } from './layout';

// Markup that more than one page repeats, kept in one place so the pages stay alike (labels, roles,
// CSRF fields) and a fix reaches all of them.

/** A secret the server does not keep (a new API key, a signing secret): shown once, under `children`. */
export function ShownOnce(props: { id: string; secret: string; children: Child }) {
  return (
    <div class="notice" role="status">
      <p>{props.children}</p>
      <p class="secret mono" id={props.id}>
        {props.secret}
      </p>
    </div>
  );
}

/** Why the form below was refused, one line per error; nothing when there are none. */
export function FormErrors(props: { id: string; errors: string[] | undefined }) {
  if (!props.errors?.length) return null;
  return (
    <ul class="notice error" role="alert" id={props.id}>
      {props.errors.map((e) => (
        <li>{e}</li>
      ))}
    </ul>
  );
}

/** A form that creates something: posts to `action` with the CSRF field, its fields, then `submit`. */
export function CreateForm(props: {
  action: string;
  session: ConsoleSession;
  submit: string;
  children: Child;
}) {
  return (
    <form method="post" action={props.action} class="stack narrow">
      <Csrf session={props.session} />
      {props.children}
      <button type="submit">{props.submit}</button>
    </form>
  );
}

/** One checkbox per value, all under `name`, in a fieldset named by `legend`. */
export function Checkboxes(props: {
  legend: string;
  name: string;
  values: readonly string[];
  /** The text beside a value's box; the value itself unless given. */
  label?: (value: string) => string;
}) {
  const label = props.label ?? ((value: string) => value);
  return (
    <fieldset>
      <legend>{props.legend}</legend>
      {props.values.map((value) => (
        <label class="check">
          <input type="checkbox" name={props.name} value={value} /> {label(value)}
        </label>
      ))}
    </fieldset>
  );
}

/**
 * A table of `items`, one `row` each, whose last column holds each row's buttons (its header is named
 * for screen readers only); `empty` in its place when there are none.
 */
export function Listing<T>(props: {
  items: readonly T[];
  columns: readonly string[];
  empty: string;
  row: (item: T) => Child;
}) {
  if (props.items.length === 0) return <p>{props.empty}</p>;
  return (
    <table>
      <thead>
        <tr>
          {props.columns.map((column) => (
            <th scope="col">{column}</th>
          ))}
          <th scope="col">
            <span class="visually-hidden">Actions</span>
          </th>
        </tr>
      </thead>
      <tbody>{props.items.map((item) => props.row(item))}</tbody>
    </table>
  );
}
