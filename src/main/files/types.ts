/** How the lines of a followed file are read. */
export const FILE_FORMATS = ['syslog', 'plain'] as const;
export type FileFormat = (typeof FILE_FORMATS)[number];

/** Where a file is first read from when no position was remembered for it. */
export const FILE_FROM = ['end', 'start'] as const;
export type FileFrom = (typeof FILE_FROM)[number];

/**
 * One `files:` entry (or a jail's `logpath`). `path` may be a glob (`*`, `?`, `[...]` in any
 * part). `syslog`: lines carry a syslog header (BSD, RFC 5424 or rsyslog's ISO timestamp);
 * `plain`: the whole line is the message and `tag` names the program the patterns see.
 */
export interface FileSourceSpec {
  path: string;
  format: FileFormat;
  tag: string;
  from: FileFrom;
}

/** Files followed at most, all sources together (a glob matching more is cut, and logged). */
export const MAX_FILES = 256;
/** Bytes read from a file at a time. */
export const READ_CHUNK = 64 * 1024;
/** The poll that backs fs.watch up (lost events, network file systems, inotify limits). */
export const POLL_MS = 1000;
/** Positions are written at most this often. */
export const SAVE_EVERY_MS = 1000;
/** Bytes at the head of a file that identify it across restarts (a reused inode differs there). */
export const FINGERPRINT_BYTES = 64;
/** A file renamed away is still read for this long after it stopped growing (late writers). */
export const ROTATED_GRACE_MS = 2000;
