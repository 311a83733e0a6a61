import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  type CandidateArtifact,
  chooseArtifact,
  type DeviceProvides,
  decideNext,
  dependsSatisfied,
  isCompatible,
  requestConflicts,
} from './matching.js';

const device: DeviceProvides = {
  device_type: 'rspi',
  artifact_name: 'app-1.0',
  'rootfs-image.checksum': 'abc',
};

const artifact = (id: string, extra: Partial<CandidateArtifact> = {}): CandidateArtifact => ({
  id,
  name: 'app-2.0',
  device_types: ['rspi', 'rspi2'],
  size: 100,
  ...extra,
});

describe('depends', () => {
  it('needs every key provided with the same value, or one of a list', () => {
    assert.ok(dependsSatisfied({ 'rootfs-image.checksum': 'abc' }, device));
    assert.ok(dependsSatisfied({ artifact_name: ['app-0.9', 'app-1.0'] }, device));
    assert.ok(!dependsSatisfied({ artifact_name: ['app-0.9'] }, device));
    assert.ok(!dependsSatisfied({ 'rootfs-image.checksum': 'def' }, device));
    assert.ok(!dependsSatisfied({ 'rootfs-image.version': 'abc' }, device));
    assert.ok(!dependsSatisfied({ artifact_group: ['stable'] }, device));
  });

  it('ignores device_type (checked against device types) and empty lists, and accepts no depends', () => {
    assert.ok(dependsSatisfied({ device_type: ['other'] }, device));
    assert.ok(dependsSatisfied({ artifact_name: [] }, device));
    assert.ok(dependsSatisfied(undefined, device));
    assert.ok(dependsSatisfied({}, device));
  });

  it('does not read inherited properties as provides', () => {
    assert.ok(!dependsSatisfied({ toString: 'x' }, device));
  });
});

describe('choosing an artifact', () => {
  it('requires the exact device type', () => {
    assert.ok(isCompatible(artifact('a'), device));
    assert.ok(!isCompatible(artifact('a', { device_types: ['RSPI'] }), device));
    assert.ok(!isCompatible(artifact('a', { device_types: [] }), device));
  });

  it('checks depends unless told to match on device type only, like Mender', () => {
    const picky = artifact('a', { depends: { artifact_name: ['app-0.5'] } });
    assert.ok(!isCompatible(picky, device));
    assert.ok(isCompatible(picky, device, { checkDepends: false }));
    assert.equal(chooseArtifact([picky], device), undefined);
    assert.equal(chooseArtifact([picky], device, { checkDepends: false }), picky);
  });

  it('picks the smallest compatible artifact, then the lowest id', () => {
    const big = artifact('a', { size: 300 });
    const small = artifact('z', { size: 100 });
    const otherType = artifact('b', { size: 1, device_types: ['x86'] });
    assert.equal(chooseArtifact([big, otherType, small], device), small);
    const twin = artifact('m', { size: 100 });
    assert.equal(chooseArtifact([small, twin], device), twin);
    assert.equal(chooseArtifact([twin, small], device), twin);
    assert.equal(chooseArtifact([], device), undefined);
  });
});

describe('deciding /next', () => {
  it('installs the chosen artifact', () => {
    const a = artifact('a');
    assert.deepEqual(decideNext({ provides: device, candidates: [a], pending: true }), {
      kind: 'install',
      artifact: a,
    });
  });

  it('says noartifact when nothing matches', () => {
    assert.deepEqual(
      decideNext({ provides: { ...device, device_type: 'foo' }, candidates: [artifact('a')], pending: true }),
      {
        kind: 'noartifact',
      },
    );
  });

  it('says already-installed when a pending device runs exactly that artifact name, unless forced', () => {
    const a = artifact('a');
    const running = { ...device, artifact_name: 'app-2.0' };
    assert.deepEqual(decideNext({ provides: running, candidates: [a], pending: true }), {
      kind: 'already-installed',
      artifact: a,
    });
    assert.equal(
      decideNext({ provides: running, candidates: [a], pending: true, forceInstallation: true }).kind,
      'install',
    );
    assert.equal(
      decideNext({ provides: { ...device, artifact_name: 'APP-2.0' }, candidates: [a], pending: true }).kind,
      'install',
    );
    assert.equal(decideNext({ provides: running, candidates: [a], pending: false }).kind, 'install');
  });

  it('keeps the artifact assigned by an earlier /next instead of choosing again', () => {
    const assigned = artifact('x', { size: 999 });
    const decision = decideNext({
      provides: device,
      candidates: [artifact('a', { size: 1 })],
      assigned,
      pending: true,
    });
    assert.deepEqual(decision, { kind: 'install', artifact: assigned });
  });
});

describe('conflicting /next requests', () => {
  it('flags any change in provides or control map support, and nothing else', () => {
    const saved = { device_provides: device, update_control_map: true };
    assert.equal(requestConflicts(saved, { device_provides: { ...device }, update_control_map: true }), false);
    assert.equal(
      requestConflicts(saved, { device_provides: { ...device, artifact_name: 'other' }, update_control_map: true }),
      true,
    );
    assert.equal(
      requestConflicts(saved, { device_provides: { ...device, extra: '1' }, update_control_map: true }),
      true,
    );
    assert.equal(requestConflicts(saved, { device_provides: device }), true);
    assert.equal(
      requestConflicts({ device_provides: device }, { device_provides: device, update_control_map: false }),
      false,
    );
  });
});
