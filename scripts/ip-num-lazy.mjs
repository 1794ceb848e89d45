// esbuild plugin: ip-num's well-known ranges become lazy.
//
// ip-num sets static fields such as `IPv4.PRIVATE_RANGES = [IPv4CidrRange.fromCidr("10.0.0.0/8"),
// …]` and `IPv6.LINK_LOCAL_RANGE = IPv6CidrRange.fromCidr("fe80::/10")` when its module is first
// evaluated: thirteen ranges parsed through ip-num's string machinery, ~1.5 ms of every QuickJS
// start that loads ip-num, for predicates (isPrivate(), isLoopback(), …) no plugin calls. This
// rewrites each such assignment, in ip-num's files only, into a getter that computes the same value
// on first read and then stores it, so a program that reads them sees the same values, and one
// that never reads them never computes them. Only statements of the form
// `Class.NAME = <expression calling Class.from…(…)>;` at the start of a line are touched.

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

export const ipNumLazyStatics = {
  name: 'ip-num-lazy-statics',
  setup(b) {
    b.onLoad({ filter: /[\\/]ip-num[\\/]dist[\\/]src[\\/][^\\/]+\.js$/ }, (args) => ({
      contents: lazyStatics(readFileSync(args.path, 'utf8')).code,
      loader: 'js',
    }));
  },
};
