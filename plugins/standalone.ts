// Entry of the standalone executable (scripts/build-standalone.mjs): first the runtime surface
// QuickJS lacks (lib/qjs/prelude.ts), then the multi-call plugin entry. ES module evaluation
// follows import order, so no plugin module runs before the prelude.
import '../lib/qjs/prelude.ts';
import './multicall.ts';
