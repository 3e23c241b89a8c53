/** SPOP 2.0 constants: frame types, flags, data types, actions and status codes as HAProxy sends them. */

export const FrameType = {
  UNSET: 0,
  HAPROXY_HELLO: 1,
  HAPROXY_DISCONNECT: 2,
  NOTIFY: 3,
  AGENT_HELLO: 101,
  AGENT_DISCONNECT: 102,
  ACK: 103,
} as const;

export const FLAG_FIN = 1;
export const FLAG_ABORT = 2;

export const DataType = {
  NULL: 0,
  BOOL: 1,
  INT32: 2,
  UINT32: 3,
  INT64: 4,
  UINT64: 5,
  IPV4: 6,
  IPV6: 7,
  STRING: 8,
  BINARY: 9,
} as const;

export const Action = { SET_VAR: 1, UNSET_VAR: 2 } as const;

export const Scope: Record<string, number> = { proc: 0, sess: 1, txn: 2, req: 3, res: 4 };

/** DISCONNECT status codes and the texts HAProxy itself uses for them. */
export const Status = {
  NORMAL: 0,
  IO: 1,
  TIMEOUT: 2,
  TOO_BIG: 3,
  INVALID: 4,
  NO_VSN: 5,
  NO_FRAME_SIZE: 6,
  NO_CAP: 7,
  BAD_VSN: 8,
  BAD_FRAME_SIZE: 9,
  FRAG_NOT_SUPPORTED: 10,
  INTERLACED_FRAMES: 11,
  FRAMEID_NOTFOUND: 12,
  RES: 13,
  UNKNOWN: 99,
} as const;

export const STATUS_TEXT: Record<number, string> = {
  0: 'normal',
  1: 'I/O error',
  2: 'a timeout occurred',
  3: 'frame is too big',
  4: 'invalid frame received',
  5: 'version value not found',
  6: 'max-frame-size value not found',
  7: 'capabilities value not found',
  8: 'unsupported version',
  9: 'max-frame-size too big or too small',
  10: 'fragmentation not supported',
  11: 'invalid interlaced frames',
  12: 'frame-id not found',
  13: 'resource allocation error',
  99: 'an unknown error occurred',
};

/** The smallest frame: type, 4 flag bytes, 1-byte stream-id and frame-id. */
export const MIN_FRAME = 7;
/** HAProxy rejects a max-frame-size below this. */
export const MIN_MAX_FRAME = 256;
/** Cap on the first frame, before max-frame-size is negotiated (a real HELLO is 82–133 bytes). */
export const PRE_HELLO_MAX_FRAME = 16384;
