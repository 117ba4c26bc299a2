/**
 * The Envoy protos vendored in third_party/envoy-api are the ones the shipped Envoy was
 * built with: every vendored file's messages, fields, enums and services equal the
 * descriptor compiled into .tools/bin/envoy, and that binary is the release
 * scripts/install-tools.sh pins. The codec tests (codec.test.ts) encode and decode
 * through these same files.
 */
import { expect } from 'chai';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { requireEnvoy } from '../helpers/envoy.ts';
import { ROOT } from '../helpers/process.ts';
import { bufDescriptors, embeddedDescriptor, wireShape } from '../helpers/proto-descriptors.ts';

const ENVOY_VERSION = /^ENVOY_VERSION=(\S+)$/m.exec(readFileSync(join(ROOT, 'scripts/install-tools.sh'), 'utf8'))?.[1];

describe("Envoy's protos, pinned to the shipped Envoy", function () {
  this.timeout(60_000);

  it('are the release install-tools installs, and the vendored README says so', () => {
    expect(ENVOY_VERSION).to.match(/^\d+\.\d+\.\d+$/);
    const version = execFileSync(requireEnvoy(), ['--version'], { encoding: 'utf8' });
    expect(version).to.include(`/${ENVOY_VERSION}/`);
    expect(readFileSync(join(ROOT, 'third_party/envoy-api/README.md'), 'utf8')).to.include(`Envoy ${ENVOY_VERSION}`);
  });

  it("match, file by file, the descriptors compiled into that Envoy's binary", () => {
    const binary = readFileSync(requireEnvoy());
    const vendored = bufDescriptors('third_party/envoy-api').filter((f) => !f.name.startsWith('google/protobuf/'));
    expect(vendored.map((f) => f.name)).to.include.members([
      'envoy/service/auth/v3/external_auth.proto',
      'envoy/service/auth/v3/attribute_context.proto',
      'envoy/service/ext_proc/v3/external_processor.proto',
      'envoy/extensions/filters/http/ext_proc/v3/processing_mode.proto',
    ]);
    for (const file of vendored) {
      const shipped = embeddedDescriptor(binary, file.name);
      expect(shipped, `${file.name} is not compiled into Envoy`).to.not.equal(undefined);
      expect(wireShape(file), file.name).to.deep.equal(wireShape(shipped!));
    }
  });

  it('would notice a difference: a renumbered field does not match', () => {
    const binary = readFileSync(requireEnvoy());
    const file = bufDescriptors('third_party/envoy-api').find((f) => f.name === 'envoy/service/auth/v3/external_auth.proto')!;
    const shipped = embeddedDescriptor(binary, file.name)!;
    const checkRequest = file.messageType.find((m) => m.name === 'CheckRequest')!;
    checkRequest.field[0]!.number = 2;
    expect(wireShape(file)).to.not.deep.equal(wireShape(shipped));
  });

  it('would notice a difference in ext_proc too: a renumbered ProcessingRequest field does not match', () => {
    const binary = readFileSync(requireEnvoy());
    const file = bufDescriptors('third_party/envoy-api').find((f) => f.name === 'envoy/service/ext_proc/v3/external_processor.proto')!;
    const shipped = embeddedDescriptor(binary, file.name)!;
    expect(wireShape(file)).to.deep.equal(wireShape(shipped));
    const request = file.messageType.find((m) => m.name === 'ProcessingRequest')!;
    request.field.find((f) => f.name === 'metadata_context')!.number = 99;
    expect(wireShape(file)).to.not.deep.equal(wireShape(shipped));
  });
});
