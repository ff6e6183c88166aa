#!/usr/bin/env node
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { pushCommand } from './push-command';
import { certsCommand } from './certs-command';
import { statusCommand } from './status-command';
import { checkpointCommand } from './checkpoint-command';
import { restoreCommand } from './restore-command';
import { inspectCommand } from './inspect-command';
import { DEFAULT_PARALLEL, drainCommand } from './drain-command';
import { parseFilter } from './drain-plan';
import { doctorCommand } from './doctor-command';
import { DEFAULT_COMPRESS, parseCompress, type Transport } from '@livemig/core';

const DEFAULT_AGENT = process.env.LIVEMIG_AGENT ?? 'localhost:7411';
const DEFAULT_TLS_DIR = process.env.LIVEMIG_TLS_DIR ?? '/etc/livemig/pki';

/** The CLI authenticates with the operator certificate (client.pem) of the PKI dir. */
function transport(argv: { insecure: boolean; 'tls-dir': string }): Transport {
  if (argv.insecure) {
    console.error('migrate-cli: warning: --insecure: plaintext gRPC, no authentication');
    return { insecure: true };
  }
  return { insecure: false, tls: { dir: argv['tls-dir'], name: 'client' } };
}

function fail(err: unknown): never {
  const message = err instanceof Error ? err.message : String(err);
  console.error(`migrate-cli: error: ${message.split('\n')[0]}`);
  process.exit(1);
}

async function main(): Promise<void> {
  await yargs(hideBin(process.argv))
    .scriptName('migrate-cli')
    .usage('$0 <command> [options]: live-migrate Docker containers between hosts')
    .option('agent', { type: 'string', default: DEFAULT_AGENT, describe: 'address of this host\'s agent' })
    .option('json', { type: 'boolean', default: false, describe: 'print the result as JSON' })
    .option('tls-dir', { type: 'string', default: DEFAULT_TLS_DIR, describe: 'PKI dir with ca.pem, client.pem, client-key.pem' })
    .option('insecure', { type: 'boolean', default: false, describe: 'talk plaintext gRPC to an --insecure agent' })
    .command(
      'status',
      'show this host\'s and a peer\'s agent, CRIU and Docker',
      (y) => y.option('to', { type: 'string', demandOption: true, describe: 'peer host[:port]' }),
      (argv) => statusCommand(argv.agent, transport(argv), argv.to, argv.json),
    )
    .command(
      'push <container>',
      'move a running container to another host',
      (y) =>
        y
          .positional('container', { type: 'string', demandOption: true, describe: 'name or id on this host' })
          .option('to', { type: 'string', demandOption: true, describe: 'destination host[:port]' })
          .option('keep-source', { type: 'boolean', default: false, describe: 'keep the source container, stopped' })
          .option('compress', {
            type: 'string',
            default: DEFAULT_COMPRESS,
            describe: 'zstd level 1-19, "fast" or fast1-fast7 (zstd --fast=N), or "none"',
            coerce: parseCompress,
          })
          .option('serial', {
            type: 'boolean',
            default: false,
            describe: 'dump, then transfer (nothing overlaps; longer downtime: measures the CRIU floor)',
          })
          .option('precopy', {
            type: 'boolean',
            default: true,
            describe: 'send the memory while the container runs, then only the changed pages while it is frozen (--no-precopy: all of it frozen)',
          })
          .option('lazy-pages', {
            choices: ['auto', 'always', 'never'] as const,
            default: 'auto' as const,
            describe: 'resume on the destination before the memory is copied into the new process (from the images there); auto: from 64 MiB',
          }),
      (argv) =>
        pushCommand({
          agent: argv.agent,
          transport: transport(argv),
          container: argv.container,
          to: argv.to,
          keepSource: argv['keep-source'],
          compress: argv.compress,
          serial: argv.serial,
          precopy: argv.precopy,
          lazyPages: argv['lazy-pages'],
          json: argv.json,
        }),
    )
    .command(
      'checkpoint <container>',
      'write a running container\'s complete state into a file on the agent\'s host',
      (y) =>
        y
          .positional('container', { type: 'string', demandOption: true, describe: 'name or id on the agent\'s host' })
          .option('out', { type: 'string', describe: 'the checkpoint file (on the agent\'s host; must not exist)' })
          .option('image', { type: 'string', describe: 'instead of --out: build this image NAME:TAG (the base image + the checkpoint as a layer)' })
          .option('leave-running', { type: 'boolean', default: false, describe: 'keep the container running (else it is removed once the file is verified)' })
          .option('when-log', { type: 'string', describe: 'wait until a line of the container\'s output matches this regex, then checkpoint at once' })
          .option('log-file', { type: 'string', describe: 'with --when-log: watch this file inside the container instead of its output' })
          .option('timeout', { type: 'number', default: 300, describe: 'with --when-log: seconds to wait before giving up (nothing is checkpointed)' })
          .option('compress', {
            type: 'string',
            default: DEFAULT_COMPRESS,
            describe: 'zstd level 1-19, "fast" or fast1-fast7 (zstd --fast=N), or "none"',
            coerce: parseCompress,
          }),
      (argv) =>
        checkpointCommand({
          agent: argv.agent,
          transport: transport(argv),
          container: argv.container,
          out: argv.out,
          image: argv.image,
          leaveRunning: argv['leave-running'],
          compress: argv.compress,
          whenLog: argv['when-log'],
          logFile: argv['log-file'],
          timeoutS: argv.timeout,
          json: argv.json,
        }),
    )
    .command(
      'doctor',
      'this host\'s facts beside a destination\'s, with a verdict and a fix per line (exit 1: something blocks)',
      (y) => y.option('to', { type: 'string', describe: 'destination host[:port] (without: this host alone)' }),
      (argv) => doctorCommand({ agent: argv.agent, transport: transport(argv), to: argv.to, json: argv.json }),
    )
    .command(
      'drain',
      'move every running container of this host (or those the filters select) to other hosts',
      (y) =>
        y
          .option('to', { type: 'string', demandOption: true, describe: 'destination host[:port][,host[:port]...]' })
          .option('filter', { type: 'array', string: true, default: [] as string[], describe: 'name=NAME (* matches any characters) or label=KEY[=VALUE], repeatable: names are alternatives, labels must all hold' })
          .option('parallel', { type: 'number', default: DEFAULT_PARALLEL, describe: 'pushes at once' })
          .option('dry-run', { type: 'boolean', default: false, describe: 'print the plan and change nothing' })
          .option('include-stopped', { type: 'boolean', default: false, describe: 'move stopped containers too, cold: config, files and volumes, created there, not started' })
          .check((a) => {
            if (!Number.isInteger(a.parallel) || a.parallel < 1) throw new Error(`--parallel ${a.parallel}: give a whole number from 1`);
            return true;
          }),
      (argv) =>
        drainCommand({
          agent: argv.agent,
          transport: transport(argv),
          to: argv.to.split(',').map((s) => s.trim()).filter(Boolean),
          filters: argv.filter.map(parseFilter),
          parallel: argv.parallel,
          dryRun: argv['dry-run'],
          json: argv.json,
          includeStopped: argv['include-stopped'],
        }),
    )
    .command(
      'restore [file]',
      'start a new container from a checkpoint file (or image) on the agent\'s host',
      (y) =>
        y
          .positional('file', { type: 'string', describe: 'the checkpoint file (on the agent\'s host)' })
          .option('image', { type: 'string', describe: 'instead of a file: a checkpoint image NAME:TAG' })
          .option('name', { type: 'string', describe: 'the new container\'s name (default: the checkpointed one\'s)' }),
      (argv) => restoreCommand({ agent: argv.agent, transport: transport(argv), file: argv.file, image: argv.image, name: argv.name, json: argv.json }),
    )
    .command(
      'inspect [file]',
      'tell what a checkpoint file (or image) on the agent\'s host holds (checks its digest; restores nothing)',
      (y) =>
        y
          .positional('file', { type: 'string', describe: 'the checkpoint file (on the agent\'s host)' })
          .option('image', { type: 'string', describe: 'instead of a file: a checkpoint image NAME:TAG' }),
      (argv) => inspectCommand({ agent: argv.agent, transport: transport(argv), file: argv.file, image: argv.image, json: argv.json }),
    )
    .command(
      'certs',
      'make a CA, node certificates and the operator certificate for mutual TLS',
      (y) =>
        y
          .option('out', { type: 'string', demandOption: true, describe: 'directory for the PEM files' })
          .option('node', { type: 'array', string: true, demandOption: true, describe: 'NAME[=IP,...], once per node' })
          .option('reissue', {
            type: 'boolean',
            default: false,
            describe: 'issue the named certificates again with the same CA (e.g. ones made before roles)',
          }),
      (argv) => certsCommand({ out: argv.out, nodes: argv.node, reissue: argv.reissue }),
    )
    .demandCommand(1, 'name a command: status, push, drain, doctor, checkpoint, restore, inspect, certs')
    .strict()
    .fail((msg, err) => fail(err ?? new Error(msg)))
    .parseAsync();
}

main().catch(fail);
