// CNI_ARGS ("K1=V1;K2=V2") with the Go library's semantics: exact two-part pairs, case-sensitive
// keys, unknown keys rejected unless IgnoreUnknown is 1/true.
import { CniError, ErrorCode } from './errors.ts';

/** Keys some plugin in this set understands; they never need IgnoreUnknown. */
export const KNOWN_CNI_ARGS = new Set([
  'IgnoreUnknown',
  'IP',
  'MAC',
  'K8S_POD_NAMESPACE',
  'K8S_POD_NAME',
  'K8S_POD_INFRA_CONTAINER_ID',
  'K8S_POD_UID',
]);

export function parseCniArgs(raw: string): Map<string, string> {
  const out = new Map<string, string>();
  if (raw === '') return out;
  for (const pair of raw.split(';')) {
    if (pair === '') continue;
    const kv = pair.split('=');
    if (kv.length !== 2 || kv[0] === '') {
      throw new CniError(ErrorCode.InvalidEnvironment, `invalid CNI_ARGS pair "${pair}"`, 'CNI_ARGS must be K=V pairs separated by ";"');
    }
    out.set(kv[0]!, kv[1]!);
  }
  const ignore = (out.get('IgnoreUnknown') ?? '').toLowerCase();
  if (ignore !== '' && !['1', 'true', '0', 'false'].includes(ignore)) {
    throw new CniError(ErrorCode.InvalidEnvironment, `invalid CNI_ARGS IgnoreUnknown value "${out.get('IgnoreUnknown')}"`);
  }
  if (ignore !== '1' && ignore !== 'true') {
    const unknown = [...out.keys()].filter((k) => !KNOWN_CNI_ARGS.has(k));
    if (unknown.length) {
      throw new CniError(
        ErrorCode.InvalidEnvironment,
        `unknown CNI_ARGS key(s) ${unknown.join(',')}`,
        'set IgnoreUnknown=1 to ignore them',
      );
    }
  }
  return out;
}
