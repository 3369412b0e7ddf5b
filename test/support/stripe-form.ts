/** A parsed form value: Stripe's bracket notation gives nested objects and indexed lists. */
export type FormValue = string | FormValue[] | { [key: string]: FormValue };
export type FormObject = { [key: string]: FormValue };

/**
 * Decodes `application/x-www-form-urlencoded` the way Stripe reads it: `metadata[order_id]=x` is a
 * nested object, `payment_method_types[0]=card` a list (the SDK sends lists with indexes).
 */
export function parseStripeForm(body: string): FormObject {
  const root: FormObject = {};
  for (const [name, value] of new URLSearchParams(body)) {
    const path = name.replace(/\]/g, '').split('[');
    let node: FormObject = root;
    for (const [i, part] of path.entries()) {
      if (i === path.length - 1) {
        node[part] = value;
        break;
      }
      const next = node[part];
      if (typeof next !== 'object' || Array.isArray(next)) node[part] = {};
      node = node[part] as FormObject;
    }
  }
  return listify(root) as FormObject;
}

/** Objects whose keys are 0..n-1 become lists, as Stripe's decoder makes them. */
function listify(value: FormValue): FormValue {
  if (typeof value === 'string' || Array.isArray(value)) return value;
  const keys = Object.keys(value);
  const entries = Object.entries(value).map(([k, v]) => [k, listify(v)] as const);
  if (keys.length > 0 && keys.every((k, i) => k === String(i))) return entries.map(([, v]) => v);
  return Object.fromEntries(entries);
}

/** A stable fingerprint of a request's parameters (Stripe compares them for idempotent replays). */
export function fingerprint(method: string, path: string, params: FormObject): string {
  return `${method} ${path} ${canonical(params)}`;
}

function canonical(value: FormValue): string {
  if (typeof value === 'string') return JSON.stringify(value);
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  return `{${Object.keys(value)
    .sort()
    .map((k) => `${JSON.stringify(k)}:${canonical(value[k] as FormValue)}`)
    .join(',')}}`;
}

export const str = (v: FormValue | undefined): string | undefined => (typeof v === 'string' ? v : undefined);
export const obj = (v: FormValue | undefined): FormObject | undefined =>
  v !== undefined && typeof v === 'object' && !Array.isArray(v) ? v : undefined;
