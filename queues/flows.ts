import type { DefaultJobOptions, FlowJob, FlowJobNode, JobsOptions } from 'bullmq';
import { jobIds, jobNames, type Round } from './contract';

/**
 * The whole saga as one BullMQ flow. BullMQ runs children first, so the root is notify, its child
 * charge, its grandchild reserve. `ignoreDependencyOnFailure`: a step that runs out of attempts has
 * already ended the order as `failed` (with stock released and money refunded), and its parent still
 * runs, so the customer hears of that outcome and no parent waits in `waiting-children` for ever.
 */
export function orderFlow(
  prefix: string,
  defaults: DefaultJobOptions,
  orderId: string,
  from: 'reserve' | 'charge' | 'notify',
  requestId?: string,
  round?: Round,
  trace?: string,
): FlowJob {
  const data = { orderId, ...(requestId ? { requestId } : {}) };
  const child = { ...withTrace(defaults, trace), ignoreDependencyOnFailure: true };
  const reserve: FlowJobNode = {
    name: jobNames.reserve,
    queueName: 'reserve',
    prefix,
    data,
    opts: { ...child, jobId: jobIds.reserve(orderId) },
  };
  const chargeOpts = { ...child, jobId: jobIds.charge(orderId, round) };
  const charge: FlowJobNode =
    from === 'reserve'
      ? { name: jobNames.charge, queueName: 'charge', prefix, data, opts: chargeOpts, children: [reserve] }
      : { name: jobNames.charge, queueName: 'charge', prefix, data, opts: chargeOpts };
  const notifyOpts = { ...withTrace(defaults, trace), jobId: jobIds.notify(orderId, round) };
  return from === 'notify'
    ? { name: jobNames.outcome, queueName: 'notify', prefix, data, opts: notifyOpts }
    : { name: jobNames.outcome, queueName: 'notify', prefix, data, opts: notifyOpts, children: [charge] };
}

/** An order placed without payment only reserves; `POST /payment` adds the charge → notify tail later. */
export function reserveOnly(
  prefix: string,
  defaults: DefaultJobOptions,
  orderId: string,
  requestId?: string,
  trace?: string,
): FlowJob {
  return {
    name: jobNames.reserve,
    queueName: 'reserve',
    prefix,
    data: { orderId, ...(requestId ? { requestId } : {}) },
    opts: { ...withTrace(defaults, trace), jobId: jobIds.reserve(orderId) },
  };
}

/**
 * The trace a flow's jobs continue (BullMQ telemetry metadata, lib/tracing.ts): given per node when
 * one `addBulk` carries many requests' flows, each of which must join its own request's trace rather
 * than the batch's. Absent (tracing off, or a single add in the request's context), nothing is added.
 */
function withTrace(defaults: DefaultJobOptions, trace: string | undefined): JobsOptions {
  return trace ? { ...defaults, telemetry: { metadata: trace } } : defaults;
}
