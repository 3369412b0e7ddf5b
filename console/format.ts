/** Money in minor units as an operator reads it (never a float in storage: only on screen). */
export function money(cents: number, currency: string): string {
  const sign = cents < 0 ? '-' : '';
  const abs = Math.abs(cents);
  return `${sign}${Math.floor(abs / 100)}.${String(abs % 100).padStart(2, '0')} ${currency}`;
}

/** An instant as UTC, to the second: the same on every operator's screen. */
export function when(iso: string | Date): string {
  const d = typeof iso === 'string' ? new Date(iso) : iso;
  return `${d.toISOString().slice(0, 19).replace('T', ' ')} UTC`;
}

/** Who made a change, as the timeline names them: a person by email where known, a key by its id. */
export function actorText(
  actor: { type: string; id?: string },
  emails: Map<string, { email: string }>,
): string {
  if (!actor.id) return actor.type;
  const person = emails.get(actor.id);
  return `${actor.type} ${person ? person.email : actor.id}`;
}
