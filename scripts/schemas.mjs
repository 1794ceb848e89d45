// Build-time work on the plugins' zod schemas (plugins/schemas.ts lists them):
//
// - zod's compiler (zod/v4/core's compileFn, the code generator behind z.compile) turns each schema
//   into a plain parser function. It is generated here, once, as source text and bundled as the
//   virtual module `cni-ts:compiled/<schema name>` (see compiledSchemasPlugin). At run time a valid
//   config is then checked by that code alone: zod's runtime is not loaded and no schema object is
//   built (under QuickJS both cost milliseconds of every call). zod's runtime parses only a config
//   the compiled parser rejects, to name the offending key (lib/cni/config.ts).
// - z.toJSONSchema writes dist/schema/<plugin>.json and the conflist/netconf schemas built from them.
import { mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { build } from 'esbuild';

/** The namespace of the virtual modules holding compiled parsers: `cni-ts:compiled/<schema name>`. */
export const COMPILED_PREFIX = 'cni-ts:compiled/';
/** zod's marker for "not valid, ask the runtime" (a registered symbol: the same in every module). */
const INVALID_KEY = 'zod.compile.invalid';

/**
 * plugins/schemas.ts with zod, bundled for Node and imported: the schemas, and the zod internals
 * this script drives (from the same copy of zod the schemas were built with).
 */
export async function loadSchemas(root) {
  const dir = mkdtempSync(join(root, 'dist', '.schemas-'));
  try {
    const file = join(dir, 'schemas.mjs');
    await build({
      stdin: {
        contents: [
          `export * as schemas from './plugins/schemas.ts';`,
          `export { compileFn, util } from 'zod/v4/core';`,
          `export { toJSONSchema } from 'zod/mini';`,
        ].join('\n'),
        resolveDir: root,
        loader: 'ts',
      },
      outfile: file,
      bundle: true,
      platform: 'node',
      format: 'esm',
      logLevel: 'warning',
    });
    return await import(pathToFileURL(file).href);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * Run zod's compiler on `schema` and capture what it builds: compileFn hands the generated code
 * and its hoisted constants to the Function constructor, which is swapped for the call.
 */
function captureCompiled(zod, schema) {
  const RealFunction = globalThis.Function;
  let captured;
  globalThis.Function = function CapturingFunction(...args) {
    const body = args.pop();
    const factory = new RealFunction(...args, body);
    captured = { names: args, body };
    return (...values) => {
      captured.values = values;
      return factory(...values);
    };
  };
  try {
    zod.compileFn(schema);
  } finally {
    globalThis.Function = RealFunction;
  }
  if (!captured?.values) throw new Error('zod compiled no parser');
  return captured;
}

/** Built-in functions a compiled parser may call, by the expression that names them. */
const BUILTINS = [
  ['Object.prototype', Object.prototype],
  ['Object', Object],
  ['Array', Array],
  ['Number', Number],
].flatMap(([name, holder]) =>
  Object.getOwnPropertyNames(holder)
    .filter((key) => key !== 'constructor' && typeof Object.getOwnPropertyDescriptor(holder, key)?.value === 'function')
    .map((key) => [`${name}.${key}`, holder, key]),
);

/**
 * zod's helpers a compiled parser calls (util.isPlainObject, …), written into the generated
 * module from their own source, with the helpers they call in turn: importing them from zod would
 * tie every compiled parser to the chunk holding zod's util module, ~30 KB of zod the run-time path
 * otherwise never reads (the standalone build splits the bundle by module).
 */
function utilFunctions(zod, name, used) {
  const functions = Object.entries(zod.util).filter(([, v]) => typeof v === 'function');
  const out = new Map();
  const visit = (utilName) => {
    if (out.has(utilName)) return;
    const src = String(zod.util[utilName]);
    if (/\[native code\]|\bthis\b/.test(src))
      throw new Error(`schema ${name}: zod's util.${utilName} cannot be copied into its compiled parser`);
    out.set(utilName, src);
    for (const [other] of functions) if (other !== utilName && new RegExp(`\\b${other}\\b`).test(src)) visit(other);
  };
  for (const u of used) visit(u);
  return [...out].map(([utilName, src]) => `const ${utilName} = ${src};`);
}

/** Source text of one hoisted constant; what cannot be written as source stops the build. */
function constantSource(zod, value, name) {
  if (typeof value === 'symbol' && Symbol.keyFor(value) !== undefined) return `Symbol.for(${JSON.stringify(Symbol.keyFor(value))})`;
  if (value === null || ['string', 'number', 'boolean'].includes(typeof value)) return JSON.stringify(value);
  if (value instanceof Set && [...value].every((v) => ['string', 'number', 'boolean'].includes(typeof v))) {
    return `new Set(${JSON.stringify([...value])})`;
  }
  if (value instanceof RegExp) return `new RegExp(${JSON.stringify(value.source)}, ${JSON.stringify(value.flags)})`;
  if (typeof value === 'function') {
    const builtin = BUILTINS.find(([, holder, key]) => holder[key] === value);
    if (builtin) return builtin[0];
    const util = Object.entries(zod.util).find(([, v]) => v === value)?.[0];
    if (util) return util;
  }
  throw new Error(`schema ${name}: zod's compiled parser needs a constant that cannot be written as source (${String(value)})`);
}

/** ESM source of zod's compiled parser for the schema exported as `name` from plugins/schemas.ts. */
export function compiledParserSource(zod, name) {
  const schema = zod.schemas[name];
  if (!schema) throw new Error(`plugins/schemas.ts exports no schema ${name}`);
  const { names, body, values } = captureCompiled(zod, schema);
  const args = values.map((v) => constantSource(zod, v, name));
  const utils = args.filter((a) => Object.hasOwn(zod.util, a));
  return [
    `// zod's compiled parser of ${name} (plugins/schemas.ts), generated by scripts/schemas.mjs.`,
    ...utilFunctions(zod, name, utils),
    `export const INVALID = Symbol.for(${JSON.stringify(INVALID_KEY)});`,
    `export const parse = /* @__PURE__ */ (function (${names.join(', ')}) {\n${body}\n})(${args.join(', ')});`,
    '',
  ].join('\n');
}

/** esbuild plugin: `cni-ts:compiled/<name>` imports resolve to generated parsers. */
export function compiledSchemasPlugin(root, zodPromise) {
  return {
    name: 'cni-ts-compiled-schemas',
    setup(b) {
      b.onResolve({ filter: /^cni-ts:compiled\// }, (args) => ({
        path: args.path.slice(COMPILED_PREFIX.length),
        namespace: 'cni-ts-compiled',
      }));
      b.onLoad({ filter: /.*/, namespace: 'cni-ts-compiled' }, async (args) => ({
        contents: compiledParserSource(await zodPromise, args.path),
        resolveDir: root,
        loader: 'js',
      }));
    },
  };
}

/** Our plugins' network config schemas by plugin name (the `type` that selects them). */
const PLUGIN_SCHEMAS = {
  bridge: 'bridgeConfigSchema',
  ptp: 'ptpConfigSchema',
  portmap: 'portmapConfigSchema',
  loopback: 'baseConfigSchema',
};
const JSON_SCHEMA_DIALECT = 'https://json-schema.org/draft/2020-12/schema';

/**
 * The JSON Schemas the build writes to dist/schema/ (file name → schema), from zod's JSON Schema
 * export (z.toJSONSchema, as a config is written: io "input"):
 * - <plugin>.json: one plugin's network config (a `.conf` file); an `ipam` section whose type
 *   is host-local gets host-local's keys;
 * - host-local.json: a network config as host-local reads it (`ipam` required);
 * - conflist.json: a network configuration list: each `plugins[]` item checked against the schema
 *   its `type` selects (ours; any other plugin's item only needs a type), without `name` and
 *   `cniVersion`, which the runtime passes down from the list;
 * - netconf.json: a `.conf` of any of our plugins, selected by `type` the same way.
 */
export function jsonSchemas(zod) {
  const exported = (name) => {
    const { $schema: _, ...schema } = zod.toJSONSchema(zod.schemas[name], { io: 'input', reused: 'inline' });
    // Embedded below under other documents' $defs: a reference of its own would point elsewhere.
    if (JSON.stringify(schema).includes('"$ref"')) throw new Error(`the JSON Schema of ${name} has references`);
    return schema;
  };
  const hostLocalIpam = exported('hostLocalIpamSchema');
  const isType = (type) => ({ properties: { type: { const: type } }, required: ['type'] });
  // biome-ignore lint/suspicious/noThenProperty: JSON Schema's if/then keywords
  const ifThen = (condition, consequence) => ({ if: condition, then: consequence });
  /** An interface plugin's config: its `ipam` refined by host-local's keys; `name` required or not. */
  const pluginSchema = (name, { requireName }) => {
    const schema = exported(name);
    schema.properties.ipam = { ...schema.properties.ipam, ...ifThen(isType('host-local'), { $ref: '#/$defs/hostLocalIpam' }) };
    if (!requireName) schema.required = (schema.required ?? []).filter((k) => k !== 'name');
    if (!schema.required?.length) delete schema.required;
    return schema;
  };
  const byType = (requireName) => ({
    type: 'object',
    required: ['type', ...(requireName ? ['name'] : [])],
    properties: { type: { type: 'string', description: 'the plugin: the name of its executable in CNI_PATH' } },
    allOf: Object.keys(PLUGIN_SCHEMAS).map((type) => ifThen(isType(type), { $ref: `#/$defs/${type}` })),
  });
  const defs = (requireName) => ({
    ...Object.fromEntries(Object.entries(PLUGIN_SCHEMAS).map(([type, name]) => [type, pluginSchema(name, { requireName })])),
    hostLocalIpam,
  });
  const out = {};
  for (const [type, name] of Object.entries(PLUGIN_SCHEMAS)) {
    out[`${type}.json`] = {
      $schema: JSON_SCHEMA_DIALECT,
      title: `cni-ts ${type} network config`,
      ...pluginSchema(name, { requireName: true }),
      $defs: { hostLocalIpam },
    };
  }
  out['host-local.json'] = {
    $schema: JSON_SCHEMA_DIALECT,
    title: 'cni-ts host-local network config (the calling plugin config with its ipam section)',
    ...exported('hostLocalConfigSchema'),
  };
  out['netconf.json'] = {
    $schema: JSON_SCHEMA_DIALECT,
    title: 'cni-ts network config (.conf), by plugin type',
    ...byType(true),
    $defs: defs(true),
  };
  out['conflist.json'] = {
    $schema: JSON_SCHEMA_DIALECT,
    title: 'CNI network configuration list (.conflist) with cni-ts plugins',
    type: 'object',
    required: ['name', 'plugins'],
    properties: {
      cniVersion: { type: 'string', description: 'CNI specification version of the list and its results' },
      cniVersions: { type: 'array', items: { type: 'string' }, description: 'versions a runtime may choose from' },
      name: { type: 'string', description: 'network name, unique on the host' },
      disableCheck: { type: 'boolean', description: 'the runtime skips CHECK' },
      disableGC: { type: 'boolean', description: 'the runtime skips GC' },
      plugins: { type: 'array', minItems: 1, items: { $ref: '#/$defs/plugin' }, description: 'the chain, in ADD order' },
    },
    $defs: { plugin: byType(false), ...defs(false) },
  };
  return out;
}
