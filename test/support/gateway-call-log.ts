import { appendFileSync } from 'node:fs';
import { SimulatedGateway } from '../../domain/payments/simulated-gateway';

/**
 * Preloaded into a worker process (`bun --preload`) by a test that counts gateway calls across
 * processes: every charge and refund call the process makes is appended to GATEWAY_CALL_LOG (one
 * line: `charge <key>` or `refund <key>`) before it reaches the processor, so a call in flight when
 * the process is killed is still counted. The processor's ledger cannot show this: a repeated key
 * returns the first answer and leaves one row.
 */
const file = process.env.GATEWAY_CALL_LOG;
if (file) {
  const { charge, refund } = SimulatedGateway.prototype;
  SimulatedGateway.prototype.charge = function (this: SimulatedGateway, req) {
    appendFileSync(file, `charge ${req.idempotencyKey}\n`);
    return charge.call(this, req);
  };
  SimulatedGateway.prototype.refund = function (this: SimulatedGateway, req) {
    appendFileSync(file, `refund ${req.chargeIdempotencyKey}\n`);
    return refund.call(this, req);
  };
}
