// CNI error codes (the CNI specification's well-known codes, plus ours) and the single error type every module throws.
// Anything that is not a CniError reaching the dispatcher is reported as code 999 ("internal"),
// like the Go reference, but with a short message and never a stack trace on stdout.

export const ErrorCode = {
  IncompatibleVersion: 1,
  UnsupportedField: 2,
  UnknownContainer: 3,
  InvalidEnvironment: 4,
  IoFailure: 5,
  DecodingFailure: 6,
  InvalidConfig: 7,
  TryAgainLater: 11,
  NotAvailable: 50,
  LimitedConnectivity: 51,
  // Plugin-specific codes (>= 100), documented in the README.
  AddressExhausted: 100,
  AddressUnavailable: 101,
  DuplicateAllocation: 102,
  KernelCommandFailed: 110,
  InterfaceConflict: 111,
  RouteConflict: 112,
  FirewallFailed: 113,
  DelegateFailed: 120,
  CheckFailed: 130,
  Internal: 999,
} as const;

export type ErrorCodeValue = (typeof ErrorCode)[keyof typeof ErrorCode];

export class CniError extends Error {
  constructor(
    readonly code: number,
    msg: string,
    readonly details?: string,
  ) {
    super(msg);
    this.name = 'CniError';
  }
}

export function cniError(code: number, msg: string, details?: string): CniError {
  return new CniError(code, msg, details);
}

/**
 * A user-supplied value shown in an error message: JSON, cut to `max` characters. Never throws:
 * JSON.stringify overflows the stack on a deeply nested value (a hostile config can nest 100 000
 * levels), which would turn a config error into an internal one.
 */
export function preview(value: unknown, max = 100): string {
  let s: string | undefined;
  try {
    s = JSON.stringify(value);
  } catch {
    s = Array.isArray(value) ? '[nested too deeply]' : '{nested too deeply}';
  }
  return (s ?? String(value)).slice(0, max);
}

/** The JSON object printed on stdout for a failure. */
export interface ErrorJson {
  cniVersion: string;
  code: number;
  msg: string;
  details?: string;
}

export function toErrorJson(err: unknown, cniVersion: string): ErrorJson {
  if (err instanceof CniError) {
    const out: ErrorJson = { cniVersion, code: err.code, msg: err.message };
    if (err.details) out.details = err.details;
    return out;
  }
  const msg = err instanceof Error ? err.message : String(err);
  return { cniVersion, code: ErrorCode.Internal, msg: msg.split('\n')[0]!.slice(0, 500) };
}
