/** Any value JSON can carry. Values stored in the KVS are these, minus top-level null. */
export type JsonValue =
  | string
  | number
  | boolean
  | null
  | readonly JsonValue[]
  | { readonly [key: string]: JsonValue };
