// The Debian archives this machine's apt is configured to use, read from its sources files: the
// standalone build fetches QuickJS's source tarball from the same archive the machine installs its
// packages from, so the repository names no archive of its own (a mirror, a proxy or a local
// `file:` copy all work) and an air-gapped machine with a local archive builds without a network.
//
// Both formats apt reads: one-line entries in /etc/apt/sources.list and sources.list.d/*.list
// ("deb [options] URI suite component…"), and deb822 stanzas in sources.list.d/*.sources
// ("Types:", "URIs:", "Suites:", "Components:", "Enabled:").
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

// Debian's release names and aliases: an entry for one of these suites (or its -updates,
// -backports … variant) is a Debian archive; other repositories a machine lists (a vendor's
// packages, a language runtime's) are not asked for Debian's files. The security archive holds
// only the packages that had security updates: skipped.
const DEBIAN_SUITES = new Set([
  'buster',
  'bullseye',
  'bookworm',
  'trixie',
  'forky',
  'duke',
  'sid',
  'oldoldstable',
  'oldstable',
  'stable',
  'testing',
  'unstable',
  'experimental',
]);

/** Is `suite` (e.g. "bookworm-updates") a suite of Debian's main archive? */
export function isDebianSuite(suite) {
  const [base, variant] = suite.split('-', 2);
  return DEBIAN_SUITES.has(base) && variant !== 'security';
}

/** One-line format: `deb [arch=amd64 signed-by=…] URI suite component…` per line. */
function parseOneLine(text) {
  const entries = [];
  for (const raw of text.split('\n')) {
    let line = raw.replace(/#.*/, '').trim();
    if (!line) continue;
    const type = line.split(/\s+/, 1)[0];
    line = line.slice(type.length).trim();
    if (line.startsWith('[')) line = line.slice(line.indexOf(']') + 1).trim();
    const [uri, suite, ...components] = line.split(/\s+/);
    if (uri && suite) entries.push({ types: [type], uris: [uri], suites: [suite], components });
  }
  return entries;
}

/** deb822 format: stanzas separated by blank lines, `Field: value` with continuation lines. */
function parseDeb822(text) {
  const entries = [];
  for (const stanza of text.split(/\n\s*\n/)) {
    const fields = {};
    let last;
    for (const line of stanza.split('\n')) {
      if (line.startsWith('#')) continue;
      const m = /^([A-Za-z-]+):\s*(.*)$/.exec(line);
      if (m) {
        last = m[1].toLowerCase();
        fields[last] = m[2];
      } else if (/^\s/.test(line) && last) fields[last] += ` ${line.trim()}`;
    }
    const words = (k) => (fields[k] ?? '').split(/\s+/).filter(Boolean);
    if (!fields.uris || /^(no|false)$/i.test(fields.enabled ?? '')) continue;
    entries.push({ types: words('types'), uris: words('uris'), suites: words('suites'), components: words('components') });
  }
  return entries;
}

/**
 * The base URIs of the Debian archives among `files` ({ name, text } of each sources file), in the
 * order apt lists them, each once; only http(s) and file URIs (what the build can read).
 */
export function debianArchives(files) {
  const out = [];
  for (const { name, text } of files) {
    const entries = name.endsWith('.sources') ? parseDeb822(text) : parseOneLine(text);
    for (const e of entries) {
      if (!e.types.some((t) => t === 'deb' || t === 'deb-src')) continue;
      if (!e.suites.some(isDebianSuite) || !e.components.includes('main')) continue;
      for (const uri of e.uris) {
        if (!/^(https?|file):/.test(uri)) continue;
        const base = uri.replace(/\/+$/, '');
        if (!out.includes(base)) out.push(base);
      }
    }
  }
  return out;
}

/** The sources files apt reads on this machine, in apt's order (sources.list, then sources.list.d/ sorted). */
export function readAptSources(etc = '/etc/apt') {
  const files = [];
  const read = (path, name) => {
    try {
      files.push({ name, text: readFileSync(path, 'utf8') });
    } catch {
      /* absent or unreadable */
    }
  };
  read(join(etc, 'sources.list'), 'sources.list');
  let names = [];
  try {
    names = readdirSync(join(etc, 'sources.list.d')).sort();
  } catch {
    /* no directory */
  }
  for (const name of names) if (name.endsWith('.list') || name.endsWith('.sources')) read(join(etc, 'sources.list.d', name), name);
  return files;
}
