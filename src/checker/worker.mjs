// Worker-thread entry of the check pool when it runs from source (src/checker/pool.ts under
// tsx or vitest). Worker threads do not inherit the main thread's tsx loader, so this
// plain-JS file registers it before loading the TypeScript worker module. The compiled
// package (dist/) does not use this file: dist/checker/pool.js starts dist/checker/check-worker.js.
import { register } from 'tsx/esm/api';
register();
const mod = await import('./check-worker.ts');
export default mod.default;
