/**
 * File descriptors two ways, to compare them: as buf compiles a module of this tree, and
 * as a protobuf-C++ binary (Envoy) carries them compiled in — each file's serialized
 * FileDescriptorProto sits in the binary as one contiguous run of bytes, starting with
 * field 1 (its name).
 */
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import protobuf from 'protobufjs';
import descriptorExt from 'protobufjs/ext/descriptor/index.js';
import { ROOT } from './process.ts';

export const BUF = join(ROOT, 'node_modules/.bin/buf');

interface FieldShape {
  name: string;
  number: number;
  label: number;
  type: number;
  typeName?: string;
  oneofIndex?: number;
  proto3Optional?: boolean;
}
interface MessageShape {
  name: string;
  field: FieldShape[];
  nestedType: MessageShape[];
  enumType: EnumShape[];
  oneofDecl: { name: string }[];
  reservedRange: { start: number; end: number }[];
  reservedName: string[];
}
interface EnumShape {
  name: string;
  value: { name: string; number: number }[];
}
export interface FileShape {
  name: string;
  package: string;
  dependency: string[];
  messageType: MessageShape[];
  enumType: EnumShape[];
  service: { name: string; method: { name: string; inputType: string; outputType: string; clientStreaming?: boolean; serverStreaming?: boolean }[] }[];
}

const { FileDescriptorSet, FileDescriptorProto } = descriptorExt as unknown as {
  FileDescriptorSet: { decode(b: Uint8Array): { file: FileShape[] } };
  FileDescriptorProto: { decode(b: Uint8Array): FileShape };
};

/** The files of one buf module (a directory of this tree), compiled without source info. */
export function bufDescriptors(moduleDir: string): FileShape[] {
  const bytes = execFileSync(BUF, ['build', moduleDir, '--exclude-source-info', '-o', '-#format=binpb'], { cwd: ROOT, maxBuffer: 64 << 20 });
  return FileDescriptorSet.decode(bytes).file;
}

/** The descriptor of `file` as compiled into `binary`, or undefined if it holds none. */
export function embeddedDescriptor(binary: Buffer, file: string): FileShape | undefined {
  const name = Buffer.from(file);
  for (let at = binary.indexOf(name); at !== -1; at = binary.indexOf(name, at + 1)) {
    // A FileDescriptorProto opens with tag 0x0a (field 1, length-delimited) and the length.
    if (name.length > 127 || binary[at - 2] !== 0x0a || binary[at - 1] !== name.length) continue;
    const start = at - 2;
    const reader = protobuf.Reader.create(binary.subarray(start, start + (16 << 20)));
    let end = 0;
    try {
      while (reader.pos < reader.len) {
        const tagAt = reader.pos;
        const tag = reader.uint32();
        const field = tag >>> 3;
        const wireType = tag & 7;
        // FileDescriptorProto's fields are 1–14; anything else is the bytes after it.
        if (field < 1 || field > 14 || wireType === 3 || wireType === 4 || wireType > 5) {
          end = tagAt;
          break;
        }
        reader.skipType(wireType);
        end = reader.pos;
      }
    } catch {
      // ran off what parses: `end` is the last whole field
    }
    return FileDescriptorProto.decode(binary.subarray(start, start + end));
  }
  return undefined;
}

/**
 * What decides the wire and the names a client uses, one line per element: messages,
 * fields (name, number, label, type, oneof), enums, services, imports. Options and
 * json_name are left out — compilers fill those differently and they change no byte
 * on the wire.
 */
export function wireShape(file: FileShape): string[] {
  const lines: string[] = [`package ${file.package}`, ...file.dependency.map((d) => `import ${d}`)];
  const enumLines = (scope: string, e: EnumShape) => e.value.forEach((v) => lines.push(`enum ${scope}.${e.name}.${v.name} = ${v.number}`));
  const messageLines = (scope: string, m: MessageShape) => {
    const name = `${scope}.${m.name}`;
    lines.push(`message ${name}`);
    for (const f of m.field) {
      lines.push(`field ${name}.${f.name} = ${f.number} label=${f.label} type=${f.type} ${f.typeName ?? ''} oneof=${f.oneofIndex ?? '-'} optional=${f.proto3Optional ? 1 : 0}`);
    }
    m.oneofDecl.forEach((o, i) => lines.push(`oneof ${name}.${o.name} #${i}`));
    m.reservedRange.forEach((r) => lines.push(`reserved ${name} ${r.start}..${r.end}`));
    m.reservedName.forEach((r) => lines.push(`reserved ${name} "${r}"`));
    m.nestedType.forEach((n) => messageLines(name, n));
    m.enumType.forEach((e) => enumLines(name, e));
  };
  file.messageType.forEach((m) => messageLines(file.package, m));
  file.enumType.forEach((e) => enumLines(file.package, e));
  for (const s of file.service) {
    for (const m of s.method) lines.push(`rpc ${file.package}.${s.name}.${m.name}(${m.clientStreaming ? 'stream ' : ''}${m.inputType}) ${m.serverStreaming ? 'stream ' : ''}${m.outputType}`);
  }
  return lines;
}
