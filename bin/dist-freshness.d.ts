// Types of bin/dist-freshness.js (imported by test/package/consumer.test.ts).
/** The package root (the directory holding bin/, src/, dist/). */
export declare const ROOT: string;
/** dist/.build-stamp, written by `npm run build` and dated to the build's start. */
export declare const BUILD_STAMP: string;
/** True in a source checkout (tsconfig.build.json and src/ present). */
export declare function isSourceCheckout(root?: string): boolean;
/** Newest modification time (ms since the epoch) of any file under `dir`. */
export declare function newestMtime(dir: string): number;
/** True when dist/ has no build stamp or a source file is newer than it. */
export declare function distIsStale(root?: string): boolean;
/** Whether bin/remapsim.js runs src/ through tsx instead of dist/. */
export declare function runFromSource(): boolean;
