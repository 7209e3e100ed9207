/**
 * An InputError made by another copy of remapsim in the process (the CLI runs its bundle while a
 * user's policy module imports the library: src/io/input-error.ts) is still an InputError to this
 * one, so bad input raised there exits 2 with one line rather than as a crash.
 */
import { describe, expect, it } from 'vitest';
import { InputError } from '../../src/io/input-error.ts';

describe('InputError across copies of the module', () => {
  it('instanceof recognises an InputError of a second copy of the class, and nothing else', async () => {
    // The query makes the module loader evaluate the file again: a second, distinct class.
    // (A variable, so that tsc does not try to resolve the query as a file.)
    const secondCopy = '../../src/io/input-error.ts?second-copy';
    const other = (await import(secondCopy)) as typeof import('../../src/io/input-error.ts');
    expect(other.InputError).not.toBe(InputError);
    const e = new other.InputError('bad field', { file: 'x.yaml', line: 3, field: 'platform.cpus' });
    expect(e instanceof InputError).toBe(true);
    expect(new InputError('mine') instanceof other.InputError).toBe(true);
    expect(e.format()).toBe('x.yaml:3: platform.cpus: bad field');
    for (const notOne of [new Error('plain'), new RangeError('r'), { message: 'lookalike', name: 'InputError' }, null, undefined, 'InputError']) {
      expect(notOne instanceof InputError).toBe(false);
    }
  });
});
