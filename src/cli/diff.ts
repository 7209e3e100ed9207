/**
 * `remapsim diff A [B] [--vmm X,Y] [--policy P,Q] [--json]`: two designs side by side (two
 * scenarios, or one under two VMM designs / policies, src/diff/sides.ts), compared IRTE by
 * IRTE, descriptor by descriptor, grant by grant, verdict by verdict, expectation and cost
 * (src/diff/snapshot.ts, src/diff/diff.ts); prints only what differs (src/diff/format.ts).
 * Exit status: 0 equivalent, 1 different, 2 bad input.
 */
import { diffSides, type DiffChoices } from '../diff/sides.ts';
import { snapshotOf } from '../diff/snapshot.ts';
import { diffSnapshots, type DesignDiff } from '../diff/diff.ts';
import { diffJson, formatDiff } from '../diff/format.ts';

/** Options of {@link diffCommand} (the command line's). */
export interface DiffOptions extends DiffChoices {
  readonly json?: boolean;
}

/** The diff of the two designs `files` and `o` name. @throws InputError for bad input. */
export async function designDiff(files: readonly string[], o: DiffChoices = {}): Promise<DesignDiff> {
  const [a, b] = await diffSides(files, o);
  return diffSnapshots(snapshotOf(a.label, a.run), snapshotOf(b.label, b.run));
}

/** `remapsim diff`: the text (or JSON) and the exit status. @throws InputError for bad input. */
export async function diffCommand(files: readonly string[], o: DiffOptions = {}): Promise<{ code: number; report: string; diff: DesignDiff }> {
  const diff = await designDiff(files, o);
  return { code: diff.equivalent ? 0 : 1, report: o.json ? JSON.stringify(diffJson(diff), null, 2) + '\n' : formatDiff(diff), diff };
}
