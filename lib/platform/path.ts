// POSIX path joining and splitting, as node:path.posix does it (Go's filepath.Join cleans the same
// way). Our own because the standalone runtime (QuickJS) has no node:path.

/** Resolve "." and ".." segments and repeated slashes; "" becomes ".". */
export function normalize(path: string): string {
  if (path === '') return '.';
  const absolute = path.startsWith('/');
  const out: string[] = [];
  for (const seg of path.split('/')) {
    if (seg === '' || seg === '.') continue;
    if (seg === '..') {
      if (out.length && out[out.length - 1] !== '..') out.pop();
      else if (!absolute) out.push('..');
      continue;
    }
    out.push(seg);
  }
  const body = out.join('/');
  const trailing = path.endsWith('/') ? '/' : '';
  if (absolute) return body === '' ? '/' : `/${body}${trailing}`;
  return (body === '' ? '.' : body) + trailing;
}

export function join(...parts: string[]): string {
  const nonEmpty = parts.filter((p) => p !== '');
  return nonEmpty.length ? normalize(nonEmpty.join('/')) : '.';
}

/** Everything before the last slash that precedes the last name (node's rule, repeated slashes kept). */
export function dirname(path: string): string {
  if (path === '') return '.';
  const hasRoot = path.startsWith('/');
  let end = -1;
  let seenName = false;
  for (let i = path.length - 1; i >= 1; i--) {
    if (path[i] === '/') {
      if (seenName) {
        end = i;
        break;
      }
    } else {
      seenName = true;
    }
  }
  if (end === -1) return hasRoot ? '/' : '.';
  if (hasRoot && end === 1) return '//';
  return path.slice(0, end);
}

export function basename(path: string): string {
  const trimmed = path.replace(/\/+$/, '');
  if (trimmed === '') return '';
  return trimmed.slice(trimmed.lastIndexOf('/') + 1);
}
