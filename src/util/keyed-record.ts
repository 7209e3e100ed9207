/**
 * One-entry updates of the state's records keyed by name (`PlatformState.devices` by `bb:dd.f`
 * key, `HypervisorIntent.owners`), kept plain objects of the public types.
 *
 * Why not immer's `draft.devices[key] = fn`: immer copies every object it drafts at one call site
 * (`shallowCopy`), whose inline cache has seen objects of every shape, so V8 copies the record by
 * its generic path, 0.1–0.2 µs a key; and a record filled key by key (as buildPlatform fills
 * `devices`) is a V8 dictionary-mode object after a dozen keys, ≈ 0.5 µs a key to copy. With 256
 * devices that made `program-msix` 8× and `assign-device` 30× their cost with 1 device
 * (BENCHMARKS.md, issue 15 goal 3).
 *
 * V8 copies a fast-mode object by cloning its property array (≈ 4 ns a key, 1 µs for 256 here),
 * but only at a spread whose inline cache has seen at most a few shapes: a single spread here,
 * fed the records of a dozen platforms (`npm run bench` builds many in one process), was back to
 * the generic path (≈ 35 µs for 256 keys). So each set of keys gets its own copy function,
 * compiled from its own source text (identical source would share one inline cache), found
 * through the record (a WeakMap from every record made here to its function). Where code cannot
 * be compiled at run time (a content security policy), one shared spread does the copy.
 *
 * The copies are fast-mode objects (a spread of a dictionary-mode record is one too, as immer's
 * copy was), so a record is slow to copy once at most. The price: V8 finds a key in a fast-mode
 * record of 256 keys more slowly than in a dictionary (0.1–0.15 µs more per IEC-hit interrupt
 * cycling over 256 devices, measured with the scaling fixture) — which every state had after its
 * first device update before this change too. O(1) updates and lookups whatever the number of
 * keys need a persistent map behind accessor functions instead of the record type.
 */

type Rec<V> = Readonly<Record<string, V>>;
/** `{ ...record }` with `key` (an own key of it) set to `value`. */
type Copier = <V>(record: Rec<V>, key: string, value: V) => Record<string, V>;

const copierByKeys = new Map<string, Copier>();
const copierOf = new WeakMap<object, Copier>();
/** Key sets remembered; past it the table starts again (only speed is at stake). */
const MAX_KEY_SETS = 256;
let compiled = 0;

const sharedCopier: Copier = (record, key, value) => {
  const copy = { ...record };
  copy[key] = value;
  return copy;
};

function newCopier(): Copier {
  try {
    // The comment makes each source text distinct: V8 would reuse one compiled function (and its inline cache) for equal ones.
    return new Function('record', 'key', 'value', `// key set ${compiled++}\nconst copy = { ...record };\ncopy[key] = value;\nreturn copy;`) as Copier;
  } catch {
    return sharedCopier;
  }
}

function copierFor(record: object): Copier {
  const known = copierOf.get(record);
  if (known !== undefined) return known;
  const keys = Object.keys(record).join('\n');
  let c = copierByKeys.get(keys);
  if (c === undefined) {
    if (copierByKeys.size >= MAX_KEY_SETS) copierByKeys.clear();
    c = newCopier();
    copierByKeys.set(keys, c);
  }
  copierOf.set(record, c);
  return c;
}

/**
 * `record` with `key` set to `value`, a new object; `record` is not changed. Key order as
 * immer's copy gave it: an existing key keeps its place, a new one goes last. `__proto__` is an
 * own entry like any other (immer's assignment set the prototype instead).
 */
export function withEntry<V>(record: Rec<V>, key: string, value: V): Rec<V> {
  // A new key changes the key set: a computed key in a literal defines it, `__proto__` included.
  if (key === '__proto__' || !Object.hasOwn(record, key)) return { ...record, [key]: value };
  const c = copierFor(record);
  const copy = c(record, key, value);
  copierOf.set(copy, c);
  return copy;
}

/**
 * A copy of `record` that V8 holds in fast mode (up to ≈ 1,000 keys), for a record filled key by
 * key (buildPlatform's `devices` and `owners`): {@link withEntry} then copies it quickly from the
 * first update on.
 */
export function compactRecord<V>(record: Rec<V>): Rec<V> {
  const copy = { ...record };
  copierFor(copy);
  return copy;
}
