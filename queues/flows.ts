import type { DefaultJobOptions, FlowJob, FlowJobNode } from 'bullmq';
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
): FlowJob {
  const data = { orderId, ...(requestId ? { requestId } : {}) };
  const child = { ...defaults, ignoreDependencyOnFailure: true };
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
  const notifyOpts = { ...defaults, jobId: jobIds.notify(orderId, round) };
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
): FlowJob {
  return {
    name: jobNames.reserve,
    queueName: 'reserve',
    prefix,
    data: { orderId, ...(requestId ? { requestId } : {}) },
    opts: { ...defaults, jobId: jobIds.reserve(orderId) },
  };
}
