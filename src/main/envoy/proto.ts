import { dirname, join } from 'node:path';
import { loadSync, type PackageDefinition } from '@grpc/proto-loader';
import { protoPath as healthProtoPath } from 'grpc-health-check';
import { EdgebanError } from '../../shared/errors.js';
import { F } from './wire.js';

/**
 * Our ext_authz .proto files (proto/ at the package root, shipped with the package) and the
 * gRPC health proto, loaded when the health and reflection server first starts: the package
 * definition feeds server reflection, and proves the hand-written codec's field numbers.
 */

/** proto/ beside dist/ (this file is dist/src/main/envoy/proto.js once built). */
export const PROTO_DIR = join(import.meta.dirname, '..', '..', '..', '..', 'proto');
export const AUTH_PROTO = 'envoy/service/auth/v3/external_auth.proto';
const HEALTH_PROTO = 'health/v1/health.proto';
/** grpc-health-check's proto root (…/proto, holding health/v1/health.proto). */
const HEALTH_DIR = dirname(dirname(dirname(healthProtoPath)));

export { AUTH_SERVICE, CHECK_PATH, HEALTH_SERVICE } from './names.js';

export const LOADER_OPTIONS = {
  keepCase: true,
  longs: String,
  enums: String,
  defaults: true,
  oneofs: true,
} as const;

/** The ext_authz and health definitions, with Envoy's file names (as reflection shows them). */
export function loadDefinitions(): PackageDefinition {
  try {
    return loadSync([AUTH_PROTO, HEALTH_PROTO], { ...LOADER_OPTIONS, includeDirs: [PROTO_DIR, HEALTH_DIR] });
  } catch (err) {
    throw new EdgebanError(
      'E_PROTO',
      `cannot load the ext_authz .proto files from ${PROTO_DIR}: ${String(err)}`,
      {
        cause: err,
      },
    );
  }
}

interface FieldDescriptor {
  name: string;
  number: number;
  type?: string;
  typeName?: string;
}
interface MessageDescriptor {
  name: string;
  field: FieldDescriptor[];
  nestedType?: MessageDescriptor[];
}

/** The DescriptorProto of a message type, nested ones included (`Outer.Inner`). */
function descriptor(pkg: PackageDefinition, fullName: string): MessageDescriptor | null {
  const parts = fullName.split('.');
  for (let i = parts.length; i > 0; i--) {
    const def = pkg[parts.slice(0, i).join('.')] as { type?: MessageDescriptor } | undefined;
    if (!def?.type?.field) continue;
    let d: MessageDescriptor | undefined = def.type;
    for (const inner of parts.slice(i)) d = d?.nestedType?.find((n) => n.name === inner);
    return d ?? null;
  }
  return null;
}

function mapEntryName(pkg: PackageDefinition): string {
  const http = descriptor(pkg, 'envoy.service.auth.v3.AttributeContext.HttpRequest');
  return (
    http?.field
      .find((f) => f.name === 'headers')
      ?.typeName?.split('.')
      .pop() || 'HeadersEntry'
  );
}

/**
 * Throws E_PROTO unless every field the codec (wire.ts) reads or writes has the same number in
 * the loaded .proto: the .proto is what tests and reflection see, the codec is what runs.
 */
export function assertWireLayout(pkg: PackageDefinition): void {
  const V3 = 'envoy.service.auth.v3';
  const CORE = 'envoy.config.core.v3';
  const types: Record<keyof typeof F, string> = {
    CheckRequest: `${V3}.CheckRequest`,
    AttributeContext: `${V3}.AttributeContext`,
    Peer: `${V3}.AttributeContext.Peer`,
    Address: `${CORE}.Address`,
    SocketAddress: `${CORE}.SocketAddress`,
    Request: `${V3}.AttributeContext.Request`,
    HttpRequest: `${V3}.AttributeContext.HttpRequest`,
    // the map entry type of HttpRequest.headers (protobufjs names it after the field)
    MapEntry: `${V3}.AttributeContext.HttpRequest.${mapEntryName(pkg)}`,
    HeaderMap: `${CORE}.HeaderMap`,
    HeaderValue: `${CORE}.HeaderValue`,
    CheckResponse: `${V3}.CheckResponse`,
    Status: 'google.rpc.Status',
    DeniedHttpResponse: `${V3}.DeniedHttpResponse`,
    OkHttpResponse: `${V3}.OkHttpResponse`,
    HttpStatus: 'envoy.type.v3.HttpStatus',
    HeaderValueOption: `${CORE}.HeaderValueOption`,
  };
  const wrong: string[] = [];
  for (const [key, fields] of Object.entries(F) as [keyof typeof F, Record<string, number>][]) {
    const typeName = types[key];
    const d = descriptor(pkg, typeName);
    if (!d) {
      wrong.push(`${typeName}: missing`);
      continue;
    }
    for (const [name, number] of Object.entries(fields)) {
      const f = d.field.find((x) => x.name === name);
      if (!f || f.number !== number)
        wrong.push(`${typeName}.${name}: .proto ${f?.number ?? 'missing'}, codec ${number}`);
    }
  }
  if (wrong.length > 0)
    throw new EdgebanError('E_PROTO', `ext_authz .proto and codec disagree: ${wrong.join('; ')}`);
}
