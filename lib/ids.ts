export type IdPrefix =
  | 'usr'
  | 'prd'
  | 'ord'
  | 'pay'
  | 'ntf'
  | 'rtk'
  | 'fam'
  | 'gw'
  | 'snd'
  | 'key'
  | 'rf'
  | 'whe'
  | 'whd';

/** Opaque, time-ordered ids (UUIDv7 underneath), prefixed by kind so a log line says what it names. */
export function newId(prefix: IdPrefix): string {
  return `${prefix}_${Bun.randomUUIDv7().replaceAll('-', '')}`;
}
