#!/usr/bin/env node
// @ts-check
// A hostile or broken source agent, for tests: speaks the Migrate protocol straight to a
// destination agent and prints the destination's answer as JSON. Run inside a lab node:
//   lab.sh exec node1 node test/tools/raw-peer.cjs SCENARIO DEST IMAGE_ID EVIL_PATH
// Scenarios: corrupt-chunk, truncated, zstd-bomb, dotdot, absolute, symlink-escape, device,
// reuse-outside, reuse-without-precopy, precopy-overflow, adopt-missing, patch-unmade,
// disk-unsent, disk-outside, disk-unknown-volume, disk-images (a disk round carrying them);
// stall (Prepare, then nothing: the stream kept open until the destination ends it);
// disk-oversize, images-oversize (an entry larger than Prepare announced, with its room to grow),
// disk-rounds (more disk rounds than a source makes);
// or `status DEST MIGRATION_ID`: what a recovering source asks (MigrationStatus).
// Environment: LIVEMIG_TLS_DIR (unset: plaintext), LIVEMIG_TLS_NAME (the certificate to present,
// default node1), LIVEMIG_SOURCE_NODE (the node Prepare names, default the certificate's name),
// LIVEMIG_SPEC_PATCH (JSON merged into the container spec: a hostile spec).
const crypto = require('node:crypto');
const tar = require('tar-stream');

const { AgentClient, ChunkSealer, PROTOCOL_VERSION, clientCredentials } = require('@livemig/core');

const [scenario, dest, imageId, evilPath] = process.argv.slice(2);

/** A tar stream (uncompressed) built from entries. @param {(p: any) => void} fill */
function tarBytes(fill) {
  const pack = tar.pack();
  const parts = [];
  pack.on('data', (d) => parts.push(d));
  const done = new Promise((r) => pack.on('end', r));
  fill(pack);
  pack.finalize();
  return done.then(() => Buffer.concat(parts));
}

const hostile = {
  dotdot: (p) => p.entry({ name: `rootfs/../../../../../../..${evilPath}` }, 'pwned'),
  absolute: (p) => p.entry({ name: `rootfs/${evilPath}`.replace('rootfs/', '/') }, 'pwned'),
  'symlink-escape': (p) => {
    p.entry({ name: 'rootfs/escape', type: 'symlink', linkname: require('node:path').dirname(evilPath) });
    p.entry({ name: `rootfs/escape/${require('node:path').basename(evilPath)}` }, 'pwned');
  },
  device: (p) => p.entry({ name: 'rootfs/dev-sda', type: 'block-device', devmajor: 8, devminor: 0 }),
  // Pages the destination should copy from its pre-copy store: beyond it, or with no store at all.
  'reuse-outside': (p) => p.entry({ name: 'reuse/pages-1.img' }, runs([0, 1], [1, 4])),
  'reuse-without-precopy': (p) => p.entry({ name: 'reuse/pages-1.img' }, runs([0, 1])),
  'precopy-overflow': (p) => p.entry({ name: 'rootfs/ok.txt' }, 'fine'),
  // An image that would take a segment the pre-copy does not have, or be written at an offset unmade.
  'adopt-missing': (p) => p.entry({ name: 'reuse/pages-1.img', pax: { 'LIVEMIG.segment': '5' } }, ''),
  'patch-unmade': (p) => p.entry({ name: 'criu/pages-1.img', pax: { 'LIVEMIG.offset': '4096' } }, 'x'.repeat(4096)),
};

/** Disk rounds: each a tar stream before the memory pre-copy, for the target's volume hostile-vol. */
const diskRound = {
  // A block written into a file of the image that no round ever sent.
  'disk-unsent': (p) => p.entry({ name: 'rootfs/etc/livemig-base.txt', pax: { 'LIVEMIG.offset': '0' } }, 'pwned'),
  // A file this round made, written far past any budget.
  'disk-outside': (p) => {
    p.entry({ name: 'volumes/hostile-vol/f', pax: { 'LIVEMIG.start': '1' } }, '');
    p.entry({ name: 'volumes/hostile-vol/f', pax: { 'LIVEMIG.offset': '999999999999999' } }, 'x');
  },
  'disk-unknown-volume': (p) => p.entry({ name: 'volumes/not-announced/f' }, 'x'),
  'disk-images': (p) => p.entry({ name: 'criu/inventory.img' }, 'x'),
  'disk-oversize': 'partial',
  'disk-rounds': (p) => p.entry({ name: 'volumes/hostile-vol/f' }, 'x'),
};

/** The start of a tar stream whose one entry declares `size` bytes: its header and 4 KiB of body. */
function partialTar(name, size) {
  const pack = tar.pack();
  const parts = [];
  pack.on('data', (d) => parts.push(d));
  pack.entry({ name, size }, () => undefined).write(Buffer.alloc(4096, 0x78));
  return new Promise((resolve) => setTimeout(() => resolve(Buffer.concat(parts)), 50));
}

/** Twice the announcement plus 256 MiB: what a destination allows (checkpoint-layout.ts withGrowth). */
const withGrowth = (announced) => 2 * announced + 256 * 1024 * 1024;
const ANNOUNCED_FILE_BYTES = 1000;

/** A reuse entry's body: (first store page, count) as little-endian u32 pairs. */
function runs(...pairs) {
  const buf = Buffer.alloc(pairs.length * 8);
  pairs.forEach(([start, count], i) => {
    buf.writeUInt32LE(start, i * 8);
    buf.writeUInt32LE(count, i * 8 + 4);
  });
  return buf;
}

/** Pre-copy bytes the scenario announces in Prepare, and those it sends. */
const PRECOPY = {
  'reuse-outside': { announced: 8192, sent: 4096 },
  'adopt-missing': { announced: 4096, sent: 4096 },
  'patch-unmade': { announced: 4096, sent: 4096 },
  'precopy-overflow': { announced: 4096, sent: 8192 },
};

async function main() {
  // Authenticated as a source node (the lab's PKI): the point is what the stream carries.
  const tls = process.env.LIVEMIG_TLS_DIR;
  const name = process.env.LIVEMIG_TLS_NAME || 'node1';
  const creds = clientCredentials(tls ? { insecure: false, tls: { dir: tls, name } } : { insecure: true });
  const client = new AgentClient(dest, creds);
  if (scenario === 'status') {
    console.log(JSON.stringify(await client.migrationStatus(imageId)));
    client.close();
    return;
  }
  const call = client.migrate();
  const replies = [];
  const ended = new Promise((resolve) => {
    call.on('data', (r) => replies.push(r.body));
    call.on('error', (e) => resolve({ code: e.code, details: e.details }));
    call.on('end', () => resolve({ code: 0, details: '' }));
  });
  const spec = {
    container: {
      specVersion: 1, name: 'hostile-target', imageId, imageRef: 'busybox:latest', entrypoint: [],
      cmd: ['sleep', '1000'], config: { Hostname: 'h', Domainname: '', User: '', Env: [], WorkingDir: '',
        Labels: {}, ExposedPorts: {} }, hostConfig: {}, networks: [{ name: 'bridge', ipv4Address: '', ipv6Address: '', aliases: [] }], mounts: [],
      ...JSON.parse(process.env.LIVEMIG_SPEC_PATCH || '{}'),
    },
    tree: { externalMounts: '', stdio: [] },
  };
  call.write({ body: 'prepare', prepare: { protocolVersion: PROTOCOL_VERSION, migrationId: crypto.randomUUID(),
    sourceNode: process.env.LIVEMIG_SOURCE_NODE || name, specJson: JSON.stringify(spec), estimatedBytes: 1, compressLevel: scenario === 'zstd-bomb' ? -1 : 0,
    precopyBytes: PRECOPY[scenario]?.announced ?? 0, diskRounds: Boolean(diskRound[scenario]), fileBytes: ANNOUNCED_FILE_BYTES } });
  const sealer = new ChunkSealer();
  if (scenario === 'disk-oversize') {
    // One file more than the announcement allows: refused from its header, nothing more needed.
    const data = await partialTar('volumes/hostile-vol/big', withGrowth(ANNOUNCED_FILE_BYTES) + 1);
    call.write({ body: 'disk', disk: new ChunkSealer().seal(data) });
  } else if (diskRound[scenario]) {
    for (let k = 0; k < (scenario === 'disk-rounds' ? 7 : 1); k++) {
      const round = new ChunkSealer();
      const data = await tarBytes(diskRound[scenario]);
      call.write({ body: 'disk', disk: round.seal(data) });
      call.write({ body: 'diskEnd', diskEnd: round.end(data.length) });
    }
    call.write({ body: 'diskDone', diskDone: {} });
  }
  if (PRECOPY[scenario]) {
    const pre = new ChunkSealer();
    const pages = Buffer.alloc(PRECOPY[scenario].sent, 0x42);
    call.write({ body: 'precopy', precopy: pre.seal(pages) });
    call.write({ body: 'precopyEnd', precopyEnd: pre.end(pages.length) });
  }
  if (scenario === 'stall' || diskRound[scenario]) {
    // nothing more: wait for the destination's verdict
  } else if (scenario === 'images-oversize') {
    // A CRIU image larger than the memory announced (estimatedBytes 1) allows.
    const data = await partialTar('criu/pages-1.img', withGrowth(1) + 1);
    call.write({ body: 'chunk', chunk: sealer.seal(data) });
  } else if (scenario === 'corrupt-chunk' || scenario === 'truncated') {
    const data = await tarBytes((p) => p.entry({ name: 'rootfs/ok.txt' }, 'fine'));
    const chunk = sealer.seal(data);
    if (scenario === 'corrupt-chunk') chunk.data = Buffer.from(chunk.data).fill(0x41, 600, 610);
    call.write({ body: 'chunk', chunk });
    const end = sealer.end(data.length);
    if (scenario === 'truncated') end.chunks += 1;
    call.write({ body: 'end', end });
  } else if (scenario === 'zstd-bomb') {
    // One chunk of a few KiB that declares 256 MiB of zeros.
    const data = require('zstd-napi').compress(Buffer.alloc(256 * 1024 * 1024));
    call.write({ body: 'chunk', chunk: sealer.seal(data) });
    call.write({ body: 'end', end: sealer.end(256 * 1024 * 1024) });
  } else {
    const data = await tarBytes(hostile[scenario]);
    call.write({ body: 'chunk', chunk: sealer.seal(data) });
    call.write({ body: 'end', end: sealer.end(data.length) });
  }
  const t0 = Date.now();
  const result = await ended;
  console.log(JSON.stringify({ replies, ...result, endedAfterMs: Date.now() - t0 }));
  call.end();
  client.close();
}

main().catch((e) => {
  console.log(JSON.stringify({ error: String(e) }));
  process.exit(1);
});
