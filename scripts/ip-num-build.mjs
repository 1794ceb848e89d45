// esbuild plugin: ip-num as the plugins load it, for both builds. Two build-time rewrites of
// ip-num's own files (its published CommonJS, which esbuild cannot tree-shake), each cutting work
// every QuickJS start that loads ip-num would otherwise do (tested: test/unit/ip-num-build.test.ts
// runs lib/net/address.ts bundled through this against the plain package).
//
// 1. Its well-known ranges become lazy.
// ip-num sets static fields such as `IPv4.PRIVATE_RANGES = [IPv4CidrRange.fromCidr("10.0.0.0/8"),
// …]` and `IPv6.LINK_LOCAL_RANGE = IPv6CidrRange.fromCidr("fe80::/10")` when its module is first
// evaluated: thirteen ranges parsed through ip-num's string machinery, ~1.5 ms of every QuickJS
// start that loads ip-num, for predicates (isPrivate(), isLoopback(), …) no plugin calls. This
// rewrites each such assignment, in ip-num's files only, into a getter that computes the same value
// on first read and then stores it, so a program that reads them sees the same values, and one
// that never reads them never computes them. Only statements of the form
// `Class.NAME = <expression calling Class.from…(…)>;` at the start of a line are touched.
//
// 2. The classes no plugin uses become empty: Asn, IPv4Mask/IPv6Mask and the CIDR range classes
// (lib/net/address.ts works on IPv4/IPv6, their prefixes and RangedSet). ip-num's files require
// each other in a cycle, so any import of it reads all of them; an emptied class is code QuickJS
// neither reads nor turns into ~100 method objects at load (~0.7 M instructions of a host-local
// ADD). The names stay defined (ip-num's own module code refers to them); calling a method of one
// fails with a TypeError, and only the lazy ranges of step 1 and methods address.ts does not call
// would.

import { readFileSync } from 'node:fs';

const HELPER =
  'function __cniTsLazyStatic(o, k, f) {\n' +
  '  const set = (v) => Object.defineProperty(o, k, { value: v, writable: true, enumerable: true, configurable: true });\n' +
  '  Object.defineProperty(o, k, { get() { const v = f(); set(v); return v; }, set, enumerable: true, configurable: true });\n' +
  '}\n';

/** The index just past the `;` ending the expression that starts at `from` (brackets and strings balanced). */
function statementEnd(src, from) {
  let depth = 0;
  let quote = null;
  for (let i = from; i < src.length; i++) {
    const c = src[i];
    if (quote) {
      if (c === '\\') i++;
      else if (c === quote) quote = null;
    } else if (c === '"' || c === "'" || c === '`') quote = c;
    else if (c === '(' || c === '[' || c === '{') depth++;
    else if (c === ')' || c === ']' || c === '}') depth--;
    else if (c === ';' && depth === 0) return i + 1;
  }
  return -1;
}

/** The rewritten source and how many assignments became lazy. */
export function lazyStatics(src) {
  const assignment = /^([A-Za-z_$][\w$]*)\.([A-Z][A-Z0-9_]*) = /gm;
  const parts = [];
  let done = 0;
  let count = 0;
  for (let m = assignment.exec(src); m; m = assignment.exec(src)) {
    const exprStart = m.index + m[0].length;
    const end = statementEnd(src, exprStart);
    if (end < 0) break;
    const expr = src.slice(exprStart, end - 1);
    assignment.lastIndex = end;
    if (!/\.from\w*\(/.test(expr)) continue; // constants stay as they are
    parts.push(src.slice(done, m.index), `__cniTsLazyStatic(${m[1]}, ${JSON.stringify(m[2])}, () => (${expr}));`);
    done = end;
    count++;
  }
  parts.push(src.slice(done));
  return { code: count ? HELPER + parts.join('') : src, count };
}

/** ip-num's classes lib/net/address.ts does not use. */
export const UNUSED_CLASSES = ['Asn', 'IPv4Mask', 'IPv6Mask', 'AbstractIPRange', 'IPv4CidrRange', 'IPv6CidrRange'];

/**
 * Each top-level `class Name … {` of `names` in `src`, down to its closing `}` alone on a line
 * (TypeScript's output), becomes `class Name {}`; the source and how many were emptied.
 */
export function emptyClasses(src, names) {
  let code = src;
  let count = 0;
  for (const name of names) {
    const start = new RegExp(`^class ${name}\\b[^\\n]*\\{\\n`, 'm').exec(code);
    if (!start) continue;
    const end = code.indexOf('\n}\n', start.index);
    if (end < 0) continue;
    code = `${code.slice(0, start.index)}class ${name} {\n}\n${code.slice(end + 3)}`;
    count++;
  }
  return { code, count };
}

/**
 * Methods of the classes address.ts uses that nothing calls: the predicates (isPrivate(), …), the
 * range set algebra, CIDR conversions and the validators of notations no plugin parses with ip-num.
 */
export const UNUSED_METHODS = {
  IPv4: [
    'isPrivate',
    'isDocumentation',
    'isMulticast',
    'isBroadcast',
    'isLoopback',
    'isUnspecified',
    'isLinkLocal',
    'isGlobalUnicast',
    'isReserved',
  ],
  IPv6: [
    'isPrivate',
    'isDocumentation',
    'isMulticast',
    'hasEmbeddedRP',
    'isUnspecified',
    'isLoopback',
    'isLinkLocal',
    'isGlobalUnicast',
    'isIPv4Mapped',
    'isDiscardOnly',
    'getKind',
  ],
  RangedSet: [
    'fromCidrRange',
    'fromRangeString',
    'toRangeString',
    'inside',
    'isEquals',
    'isLessThan',
    'isGreaterThan',
    'isCidrAble',
    'toCidrRange',
    'isConsecutive',
    'union',
    'prepend',
    'append',
    'subtract',
    'difference',
    'toIPv4CidrRange',
    'toIPv6CidrRange',
  ],
  IPv4Prefix: ['fromRangeSize', 'merge', 'split', 'toDecimalNotation', 'toMask'],
  IPv6Prefix: ['fromRangeSize', 'merge', 'split', 'toHexadecatetNotation', 'toMask'],
  Validator: [
    'isValidAsnNumber',
    'isValid16BitAsnNumber',
    'isValidIPv4Mask',
    'isValidIPv6Mask',
    'isValidIPv4CidrNotation',
    'isValidIPv4CidrRange',
    'isValidIPv6CidrRange',
    'isValidCidrRange',
    'isValidIPv4RangeString',
    'isValidIPv6RangeString',
    'isValidRange',
    'isValidIPv6CidrNotation',
  ],
};

/**
 * In each top-level class of `methods` (by name), each listed method — a line `    [static ]name(…) {`
 * down to the next line `    }`, TypeScript's output — is removed; the source and how many were.
 */
export function dropMethods(src, methods) {
  let code = src;
  let count = 0;
  for (const [cls, names] of Object.entries(methods)) {
    const start = new RegExp(`^class ${cls}\\b[^\\n]*\\{\\n`, 'm').exec(code);
    if (!start) continue;
    const end = code.indexOf('\n}\n', start.index);
    if (end < 0) continue;
    let body = code.slice(start.index, end + 1);
    for (const name of names) {
      const m = new RegExp(`^    (?:static )?${name}\\([^\\n]*\\{\\n`, 'm').exec(body);
      if (!m) continue;
      const close = body.indexOf('\n    }\n', m.index);
      if (close < 0) continue;
      body = body.slice(0, m.index) + body.slice(close + 7);
      count++;
    }
    code = code.slice(0, start.index) + body + code.slice(end + 1);
  }
  return { code, count };
}

/** One ip-num file as the builds bundle it. */
export const ipNumForBuild = (src) => lazyStatics(dropMethods(emptyClasses(src, UNUSED_CLASSES).code, UNUSED_METHODS).code).code;

export const ipNumBuild = {
  name: 'ip-num-build',
  setup(b) {
    b.onLoad({ filter: /[\\/]ip-num[\\/]dist[\\/]src[\\/][^\\/]+\.js$/ }, (args) => ({
      contents: ipNumForBuild(readFileSync(args.path, 'utf8')),
      loader: 'js',
    }));
  },
};
