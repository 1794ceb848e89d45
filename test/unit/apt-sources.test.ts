// Which Debian archive the standalone build fetches QuickJS's source from: the machine's apt
// sources, both formats. Host names here are placeholders (example.org / example.net).
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { debianArchives, isDebianSuite, readAptSources } from '../../scripts/apt-sources.mjs';

describe('apt sources', () => {
  it('deb822: the Debian entries, not the security archive or a vendor repository', () => {
    const sources = [
      'Types: deb deb-src',
      'URIs: http://mirror.example.org/debian/',
      'Suites: bookworm bookworm-updates',
      'Components: main contrib',
      'Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg',
      '',
      'Types: deb',
      'URIs: http://mirror.example.org/debian-security',
      'Suites: bookworm-security',
      'Components: main',
      '',
      'Types: deb',
      'URIs: https://vendor.example.net/node_20.x',
      'Suites: nodistro',
      'Components: main',
      '',
      '# disabled',
      'Enabled: no',
      'Types: deb',
      'URIs: http://old.example.org/debian',
      'Suites: bookworm',
      'Components: main',
    ].join('\n');
    expect(debianArchives([{ name: 'debian.sources', text: sources }])).toEqual(['http://mirror.example.org/debian']);
  });

  it('one-line format with options, comments, several files in order, each archive once', () => {
    const list = [
      '# deb http://commented.example.org/debian bookworm main',
      'deb [arch=amd64 signed-by=/usr/share/keyrings/x.gpg] https://a.example.org/debian bookworm main',
      'deb https://vendor.example.net/apt cloud-sdk-bookworm main',
      'deb-src https://a.example.org/debian/ bookworm main',
      'deb http://b.example.org/debian stable contrib', // no main component: no QuickJS there
    ].join('\n');
    const more = 'deb file:/srv/mirror/debian trixie main\ndeb ftp://c.example.org/debian bookworm main\n';
    expect(
      debianArchives([
        { name: 'sources.list', text: list },
        { name: 'local.list', text: more },
      ]),
    ).toEqual(['https://a.example.org/debian', 'file:/srv/mirror/debian']);
  });

  it('suites', () => {
    expect(['bookworm', 'bookworm-updates', 'stable-backports', 'sid', 'trixie'].every(isDebianSuite)).toBe(true);
    expect(['bookworm-security', 'nodistro', 'jammy', 'cloud-sdk-bookworm', 'focal-updates'].some(isDebianSuite)).toBe(false);
  });

  it('reads sources.list and sources.list.d/*.list and *.sources in apt order, ignoring other files', () => {
    const etc = mkdtempSync(join(tmpdir(), 'cnits-apt-'));
    try {
      mkdirSync(join(etc, 'sources.list.d'));
      writeFileSync(join(etc, 'sources.list'), 'deb http://one.example.org/debian bookworm main\n');
      writeFileSync(
        join(etc, 'sources.list.d', 'b.sources'),
        'Types: deb\nURIs: http://three.example.org/debian\nSuites: bookworm\nComponents: main\n',
      );
      writeFileSync(join(etc, 'sources.list.d', 'a.list'), 'deb http://two.example.org/debian bookworm main\n');
      writeFileSync(join(etc, 'sources.list.d', 'c.list.disabled'), 'deb http://four.example.org/debian bookworm main\n');
      expect(debianArchives(readAptSources(etc))).toEqual([
        'http://one.example.org/debian',
        'http://two.example.org/debian',
        'http://three.example.org/debian',
      ]);
    } finally {
      rmSync(etc, { recursive: true, force: true });
    }
  });
});
