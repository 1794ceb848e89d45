// A one-layer OCI image built by hand from Debian's busybox-static (no registry, no download):
// the layer is a tar of /bin/busybox plus a link per applet, the config and manifest are written
// here, every blob is named by its sha256, and the whole OCI layout is tarred for
// `ctr images import`.

import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFileSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export const BUSYBOX = '/bin/busybox';

/** Debian's busybox-static (the image has no libc: a dynamically linked busybox would not start). */
export function haveStaticBusybox(): boolean {
  try {
    const head = readFileSync(BUSYBOX).subarray(0, 4096).toString('latin1');
    return head.startsWith('\x7fELF') && !head.includes('ld-linux');
  } catch {
    return false;
  }
}

function blob(layoutDir: string, data: Buffer): { digest: string; size: number } {
  const hex = createHash('sha256').update(data).digest('hex');
  writeFileSync(join(layoutDir, 'blobs', 'sha256', hex), data);
  return { digest: `sha256:${hex}`, size: data.length };
}

/**
 * Build the image tarball in `dir` (which must not exist yet); returns its path and the image
 * name to import it as. `cmd` is the image's command (a long sleep makes a pause image for CRI).
 */
export function buildBusyboxImage(
  dir: string,
  name = 'docker.io/library/cnits-busybox:latest',
  cmd: string[] = ['sh'],
): { tarball: string; name: string } {
  const rootfs = join(dir, 'rootfs');
  mkdirSync(join(rootfs, 'bin'), { recursive: true });
  copyFileSync(BUSYBOX, join(rootfs, 'bin', 'busybox'));
  const applets = execFileSync(BUSYBOX, ['--list'], { encoding: 'utf8' })
    .split('\n')
    .filter((a) => /^[a-z0-9._[-]+$/.test(a) && a !== 'busybox');
  for (const a of applets) symlinkSync('busybox', join(rootfs, 'bin', a));
  const layerTar = join(dir, 'layer.tar');
  execFileSync('tar', ['--sort=name', '--owner=0', '--group=0', '--numeric-owner', '--mtime=@0', '-C', rootfs, '-cf', layerTar, '.']);

  const layout = join(dir, 'layout');
  mkdirSync(join(layout, 'blobs', 'sha256'), { recursive: true });
  const layer = blob(layout, readFileSync(layerTar));
  const config = blob(
    layout,
    Buffer.from(
      JSON.stringify({
        architecture: 'amd64',
        os: 'linux',
        config: { Env: ['PATH=/bin'], Cmd: cmd },
        rootfs: { type: 'layers', diff_ids: [layer.digest] }, // uncompressed layer: diff id == digest
      }),
    ),
  );
  const manifest = blob(
    layout,
    Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: 'application/vnd.oci.image.manifest.v1+json',
        config: { mediaType: 'application/vnd.oci.image.config.v1+json', ...config },
        layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar', ...layer }],
      }),
    ),
  );
  writeFileSync(join(layout, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  writeFileSync(
    join(layout, 'index.json'),
    JSON.stringify({
      schemaVersion: 2,
      manifests: [
        {
          mediaType: 'application/vnd.oci.image.manifest.v1+json',
          ...manifest,
          platform: { architecture: 'amd64', os: 'linux' },
          annotations: { 'io.containerd.image.name': name, 'org.opencontainers.image.ref.name': 'latest' },
        },
      ],
    }),
  );
  const tarball = join(dir, 'image.tar');
  execFileSync('tar', ['-C', layout, '-cf', tarball, '.']);
  return { tarball, name };
}
