// esbuild plugin: ip-num as the plugins load it, for both builds. Build-time rewrites of
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
//
// 3. What an address derives from its value is derived when first read. ip-num's IPv4 and IPv6
// constructors compute the value and, from it or from the text, the address's octets (IPv6: its
// sixteen-bit groups) as objects, each built through binary strings and validated again: most of a
// construction's cost (~0.14 M QuickJS instructions an IPv4 address, ~0.24 M an IPv6 one), while
// the plugins read them only to print or encode an address or two per call, and the allocator's
// stepping, containment and comparisons use the value alone. The derivation of each is wrapped in
// a function, unchanged, and the property becomes an accessor that runs it on first read and keeps
// its result: the same arrays, the same methods producing them, later. Validation and the value
// stay where they were.
//
// 4. Regular expression literals inside ip-num's functions are made once per file. A literal is a
// new RegExp object each time its expression is evaluated; ip-num checks each part of an address
// with one (`/^(\d+)$/.test(octet)`: four objects an IPv4 parse, up to 24 an IPv6 one, ~10 k
// instructions each under QuickJS). Each listed use becomes a constant made when the file loads.
// The same object serves every call: sound for these uses only, which read no state of the
// object between calls: `test` and `replace` with a literal without the g or y flag (lastIndex is
// neither read nor written), `match` with a g literal (it starts from 0 and leaves lastIndex at 0).
//
// 5. Methods of the classes address.ts uses that nothing calls are dropped (UNUSED_METHODS below).

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

const DERIVED_HELPER =
  'function __cniTsDerived(proto, key) {\n' +
  '  const slot = Symbol(key);\n' +
  "  Object.defineProperty(proto, key, { get() { let v = this[slot]; if (typeof v === 'function') this[slot] = v = v(); return v; },\n" +
  '    set(v) { this[slot] = v; }, configurable: true });\n' +
  '}\n';

/**
 * The derivations made lazy (see the header), as exact text of ip-num's IPNumber.js: each `from`
 * becomes `to` (the expression computing the state wrapped in a function), and the class's
 * property `key`, which its constructor assigns the function, an accessor running it on first read.
 */
export const DERIVED = [
  {
    what: 'IPv4 octets from the text',
    from: '        octets = stringOctets.map((rawOctet) => {',
    to: '        octets = () => stringOctets.map((rawOctet) => {',
  },
  {
    what: 'IPv4 octets from the value',
    from: '        return [ipv4Number, this.binaryStringToDecimalOctets(binaryString)];',
    to: '        return [ipv4Number, () => this.binaryStringToDecimalOctets(binaryString)];',
  },
  {
    what: 'IPv6 groups from the text',
    from: '        let hexadecatet = stringHexadecimals.map((stringHexadecatet) => {',
    to: '        let hexadecatet = () => stringHexadecimals.map((stringHexadecatet) => {',
  },
  {
    what: 'IPv6 groups from the value',
    from: '        return [ipv6Number, this.binaryStringToHexadecatets(binaryString)];',
    to: '        return [ipv6Number, () => this.binaryStringToHexadecatets(binaryString)];',
  },
];
/** The properties holding them, made accessors right after their class is exported. */
export const DERIVED_PROPERTIES = [
  { cls: 'IPv4', key: 'octets' },
  { cls: 'IPv6', key: 'hexadecatet' },
];

/**
 * Step 3 on one file: the source and how many of DERIVED and DERIVED_PROPERTIES were applied (all
 * or none per file: a file holding some but not all of them is left as it is and counted 0, so a
 * changed ip-num shows up in the count, which the test checks, rather than as half a rewrite).
 */
export function deriveOnRead(src) {
  const at = (text) => src.indexOf(text);
  const exports = DERIVED_PROPERTIES.map(({ cls }) => `\nexports.${cls} = ${cls};\n`);
  const found = DERIVED.filter((d) => at(d.from) >= 0 && at(d.from) === src.lastIndexOf(d.from)).length;
  if (found === 0 || found < DERIVED.length || exports.some((e) => at(e) < 0)) return { code: src, count: 0 };
  let code = src;
  for (const d of DERIVED) code = code.replace(d.from, d.to);
  DERIVED_PROPERTIES.forEach(({ cls, key }, i) => {
    code = code.replace(exports[i], `${exports[i]}__cniTsDerived(${cls}.prototype, ${JSON.stringify(key)});\n`);
  });
  return { code: DERIVED_HELPER + code, count: DERIVED.length + DERIVED_PROPERTIES.length };
}

/**
 * Step 4's uses, as exact text of ip-num's files: the literal and how it is used (see the header
 * for why each use is sound). Uses in methods dropped or classes emptied by steps 1–2 need none.
 */
export const HOISTED_REGEXPS = [
  { literal: '/^(\\d+)$/', use: 'test' },
  { literal: '/^[0-9A-Fa-f]{4}$/', use: 'test' },
  { literal: '/^([10])+$/', use: 'test' },
  { literal: '/(:){3,}/', use: 'test' },
  { literal: '/^0+/', use: 'replace' },
  { literal: '/.{1,8}/g', use: 'match' },
  { literal: '/.{1,4}/g', use: 'match' },
  { literal: '/.{1,16}/g', use: 'match' },
];

/** The text of one use: `/x/.test(` or `.replace(/x/,` or `.match(/x/g)`. */
const useText = ({ literal, use }, by = literal) =>
  use === 'test' ? `${by}.test(` : use === 'replace' ? `.replace(${by}, ` : `.match(${by})`;

/** Step 4 on one file: the source and how many uses became a constant. */
export function hoistRegExps(src) {
  let code = src;
  let count = 0;
  const constants = [];
  HOISTED_REGEXPS.forEach((r, i) => {
    const name = `__cniTsRegExp${i}`;
    const uses = code.split(useText(r)).length - 1;
    if (uses === 0) return;
    code = code.replaceAll(useText(r), useText(r, name));
    constants.push(`const ${name} = ${r.literal};\n`);
    count += uses;
  });
  return { code: constants.join('') + code, count };
}

/** One ip-num file as the builds bundle it. */
export const ipNumForBuild = (src) =>
  hoistRegExps(deriveOnRead(lazyStatics(dropMethods(emptyClasses(src, UNUSED_CLASSES).code, UNUSED_METHODS).code).code).code).code;

export const ipNumBuild = {
  name: 'ip-num-build',
  setup(b) {
    b.onLoad({ filter: /[\\/]ip-num[\\/]dist[\\/]src[\\/][^\\/]+\.js$/ }, (args) => ({
      contents: ipNumForBuild(readFileSync(args.path, 'utf8')),
      loader: 'js',
    }));
  },
};
