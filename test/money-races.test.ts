import { createGateway } from '../wiring/adapters';
import { moneyRaces } from './support/money-races';

// The money races against the simulated processor; the Stripe adapter runs the same suite against its
// stand-in by calling moneyRaces with its own factory.
moneyRaces('simulated', (h) => createGateway(h.config, h.db));
