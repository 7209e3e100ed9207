// Worker-thread entry of the check pool (src/checker/pool.ts). Worker threads do not
// inherit the main thread's tsx loader, so this plain-JS file registers it (as
// bin/remapsim.js does) before loading the TypeScript worker module.
import { register } from 'tsx/esm/api';
register();
const mod = await import('./check-worker.ts');
export default mod.default;
