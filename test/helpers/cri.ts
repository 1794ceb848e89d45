// A minimal CRI client (k8s.io/cri-api runtime.v1), talking gRPC over containerd's unix socket
// with node:http2 and hand-encoded protobuf — only the few messages the pod-sandbox lifecycle
// needs, the way kubelet drives it: RunPodSandbox, PodSandboxStatus, StopPodSandbox,
// RemovePodSandbox, ListPodSandbox. Field numbers follow api.proto of cri-api v0.25.

import { type ClientHttp2Session, constants, connect as h2Connect } from 'node:http2';
import { connect as netConnect } from 'node:net';

// ---- protobuf, just enough -------------------------------------------------------------------

type Field = [number, string | number | boolean | Buffer | undefined];

function varint(n: number | bigint): Buffer {
  let v = BigInt(n);
  const out: number[] = [];
  do {
    let b = Number(v & 0x7fn);
    v >>= 7n;
    if (v > 0n) b |= 0x80;
    out.push(b);
  } while (v > 0n);
  return Buffer.from(out);
}

/** Encode fields in order: strings and Buffers (embedded messages) as length-delimited, numbers/bools as varints. */
export function encode(fields: Field[]): Buffer {
  const parts: Buffer[] = [];
  for (const [no, value] of fields) {
    if (value === undefined) continue;
    if (typeof value === 'string' || Buffer.isBuffer(value)) {
      const bytes = typeof value === 'string' ? Buffer.from(value) : value;
      parts.push(varint((no << 3) | 2), varint(bytes.length), bytes);
    } else {
      parts.push(varint(no << 3), varint(typeof value === 'boolean' ? Number(value) : value));
    }
  }
  return Buffer.concat(parts);
}

/** map<string,string> entries: repeated message { key = 1; value = 2 }. */
function mapEntries(no: number, map: Record<string, string>): Field[] {
  return Object.entries(map).map(
    ([k, v]) =>
      [
        no,
        encode([
          [1, k],
          [2, v],
        ]),
      ] as Field,
  );
}

/** Decode one message level: field number → raw values (Buffers for length-delimited, bigints otherwise). */
export function decode(buf: Buffer): Map<number, Array<Buffer | bigint>> {
  const out = new Map<number, Array<Buffer | bigint>>();
  let i = 0;
  const readVarint = (): bigint => {
    let result = 0n;
    let shift = 0n;
    for (;;) {
      const b = buf[i++]!;
      result |= BigInt(b & 0x7f) << shift;
      if (!(b & 0x80)) return result;
      shift += 7n;
    }
  };
  while (i < buf.length) {
    const key = Number(readVarint());
    const no = key >> 3;
    let value: Buffer | bigint;
    switch (key & 7) {
      case 0:
        value = readVarint();
        break;
      case 1:
        value = buf.subarray(i, i + 8);
        i += 8;
        break;
      case 2: {
        const len = Number(readVarint());
        value = buf.subarray(i, i + len);
        i += len;
        break;
      }
      case 5:
        value = buf.subarray(i, i + 4);
        i += 4;
        break;
      default:
        throw new Error(`unsupported wire type ${key & 7}`);
    }
    if (!out.has(no)) out.set(no, []);
    out.get(no)!.push(value);
  }
  return out;
}

const str = (m: Map<number, Array<Buffer | bigint>>, no: number): string => (m.get(no)?.[0] as Buffer | undefined)?.toString() ?? '';
const msg = (m: Map<number, Array<Buffer | bigint>>, no: number) => decode((m.get(no)?.[0] as Buffer | undefined) ?? Buffer.alloc(0));

// ---- gRPC over HTTP/2 -----------------------------------------------------------------------

export class CriClient {
  private session: ClientHttp2Session;

  constructor(socketPath: string) {
    this.session = h2Connect('http://localhost', { createConnection: () => netConnect(socketPath) });
    this.session.on('error', () => {});
  }

  close(): void {
    this.session.close();
  }

  private call(method: string, body: Buffer, service = 'runtime.v1.RuntimeService'): Promise<Buffer> {
    return new Promise((resolve, reject) => {
      const req = this.session.request({
        [constants.HTTP2_HEADER_METHOD]: 'POST',
        [constants.HTTP2_HEADER_PATH]: `/${service}/${method}`,
        'content-type': 'application/grpc',
        te: 'trailers',
      });
      const chunks: Buffer[] = [];
      let status: string | undefined;
      let message = '';
      const note = (h: Record<string, unknown>) => {
        if (h['grpc-status'] !== undefined) status = String(h['grpc-status']);
        if (h['grpc-message'] !== undefined) message = decodeURIComponent(String(h['grpc-message']));
      };
      req.on('response', note);
      req.on('trailers', note);
      req.on('data', (d: Buffer) => chunks.push(d));
      req.on('error', reject);
      req.on('end', () => {
        if (status !== '0') return reject(new Error(`CRI ${method}: grpc-status ${status}: ${message}`));
        const data = Buffer.concat(chunks);
        resolve(data.length >= 5 ? data.subarray(5, 5 + data.readUInt32BE(1)) : Buffer.alloc(0));
      });
      const frame = Buffer.alloc(5);
      frame.writeUInt32BE(body.length, 1);
      req.end(Buffer.concat([frame, body]));
    });
  }

  async version(): Promise<string> {
    const r = decode(await this.call('Version', encode([[1, 'v1']])));
    return `${str(r, 2)} ${str(r, 3)} (CRI ${str(r, 4)})`;
  }

  /**
   * RunPodSandbox with a kubelet-like config; returns the sandbox id. `ports` are the sandbox's
   * port mappings (what kubelet sends for a container's `hostPort`), TCP.
   */
  async runPodSandbox(pod: {
    name: string;
    namespace: string;
    uid: string;
    attempt?: number;
    cgroupParent?: string;
    ports?: Array<{ containerPort: number; hostPort: number; hostIP?: string }>;
  }): Promise<string> {
    const metadata = encode([
      [1, pod.name],
      [2, pod.uid],
      [3, pod.namespace],
      [4, pod.attempt ?? 0],
    ]);
    // PortMapping: protocol = 1 (TCP = 0), container_port = 2, host_port = 3, host_ip = 4.
    const ports = (pod.ports ?? []).map(
      (p) =>
        [
          5,
          encode([
            [1, 0],
            [2, p.containerPort],
            [3, p.hostPort],
            [4, p.hostIP],
          ]),
        ] as Field,
    );
    const config = encode([
      [1, metadata],
      [2, pod.name],
      ...ports,
      ...mapEntries(6, { 'io.kubernetes.pod.name': pod.name, 'io.kubernetes.pod.namespace': pod.namespace }),
      [8, encode([[1, pod.cgroupParent ?? '']])], // LinuxPodSandboxConfig.cgroup_parent
    ]);
    const r = decode(await this.call('RunPodSandbox', encode([[1, config]])));
    return str(r, 1);
  }

  /** PodSandboxStatus: state (0 ready, 1 not ready), IPs, and the sandbox pid from the verbose info. */
  async podSandboxStatus(id: string): Promise<{ state: number; ips: string[]; pid?: number }> {
    const r = decode(
      await this.call(
        'PodSandboxStatus',
        encode([
          [1, id],
          [2, true],
        ]),
      ),
    );
    const status = msg(r, 1);
    const network = msg(status, 5);
    const ips = [str(network, 1), ...(network.get(2) ?? []).map((b) => str(decode(b as Buffer), 1))].filter(Boolean);
    let pid: number | undefined;
    for (const entry of r.get(2) ?? []) {
      const kv = decode(entry as Buffer);
      if (str(kv, 1) === 'info') pid = JSON.parse(str(kv, 2)).pid;
    }
    return { state: Number((status.get(3)?.[0] as bigint | undefined) ?? 0n), ips, pid };
  }

  async stopPodSandbox(id: string): Promise<void> {
    await this.call('StopPodSandbox', encode([[1, id]]));
  }

  async removePodSandbox(id: string): Promise<void> {
    await this.call('RemovePodSandbox', encode([[1, id]]));
  }

  /** Ids of all pod sandboxes. */
  async listPodSandbox(): Promise<string[]> {
    const r = decode(await this.call('ListPodSandbox', Buffer.alloc(0)));
    return (r.get(1) ?? []).map((b) => str(decode(b as Buffer), 1));
  }
}
