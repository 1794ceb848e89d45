// node scripts/code-cache-warm.cjs <wrapped bundle> <cache file>: run a bundle's code for one plugin
// call (environment and stdin as given) and write V8's code cache of it when the call exits, so the
// cache holds the functions the call compiled (scripts/code-cache.mjs).
const { writeFileSync } = require('node:fs');
const { dirname } = require('node:path');
const { Script } = require('node:vm');
const { readFileSync } = require('node:fs');

const [file, out] = process.argv.slice(2);
const script = new Script(readFileSync(file, 'utf8'), { filename: 'cni-ts-bundle' });
const exit = process.exit.bind(process);
process.exit = () => {
  writeFileSync(out, script.createCachedData());
  exit(0);
};
process.argv[1] = file;
script.runInThisContext()(module.exports, require, module, file, dirname(file));
