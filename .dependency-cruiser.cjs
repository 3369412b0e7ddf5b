/**
 * The layers the build enforces (docs/architecture.md, "Rooms and their rules", has the same table
 * with the reasons). Run by `bun run lint` and by CI's lint step; a wrong import fails with the rule's
 * name and comment.
 *
 * Top level, each folder may import only the ones below it (scripts, test and bench may import anything):
 *   api, workers   → wiring, dashboard (api only), domain, queues, db, lib
 *   dashboard      → domain, queues, db, lib (what it needs of the API is handed in)
 *   wiring         → domain, queues, db, lib
 *   domain         → db, lib
 *   queues         → lib
 *   db             → lib
 *   lib            → nothing of the app
 * Inside domain/: orders → fraud, payments, inventory, catalog, notifications, users, auth;
 * notifications → users, auth; users → auth; every folder → the shared files at domain/'s root.
 */

/** The folders that run or compose a process, or drive it from outside: nothing of the app imports them. */
const outside = 'scripts|test|bench';

/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: 'no-circular',
      severity: 'error',
      comment:
        'A cycle (type-only imports included) means two modules cannot be understood, tested or moved ' +
        'apart: break it with a port owned by the side that needs the behaviour, or move the code to its owner.',
      from: {},
      to: { circular: true },
    },
    {
      name: 'lib-is-a-leaf',
      severity: 'error',
      comment:
        'lib/ holds leaf utilities (config, logger, ids, batcher, Redis connection, cache) that any layer ' +
        'may use; one that reached app code would drag that code (and its cycles) into every layer.',
      from: { path: '^lib/' },
      to: { path: `^(api|workers|dashboard|console|wiring|domain|queues|db|client|${outside})/` },
    },
    {
      name: 'db-only-on-lib',
      severity: 'error',
      comment:
        'db/ is the schema, the client and migrations: it knows no rules of the business (the seed data ' +
        'is a script, scripts/seed.ts) and no process.',
      from: { path: '^db/' },
      to: { path: `^(api|workers|dashboard|console|wiring|domain|queues|${outside})/` },
    },
    {
      name: 'queues-only-on-lib',
      severity: 'error',
      comment:
        'queues/ is the BullMQ contract, producer and partitions: job payloads are ids, so it needs neither ' +
        'SQL nor the domain; an adapter that implements a domain port over Redis lives in wiring/ or next to its port.',
      from: { path: '^queues/' },
      to: { path: `^(api|workers|dashboard|console|wiring|domain|db|${outside})/` },
    },
    {
      name: 'domain-only-on-db-and-lib',
      severity: 'error',
      comment:
        'Domain rules run the same under the API, a worker or a script: they are handed what they need ' +
        '(OrderContext, ports) and import no transport, no queue and no composition (DESIGN.md).',
      from: { path: '^domain/' },
      to: { path: `^(api|workers|dashboard|console|wiring|queues|${outside})/` },
    },
    {
      name: 'domain-knows-no-http-or-queue-library',
      severity: 'error',
      comment: 'Domain code imports no Hono and no BullMQ (DESIGN.md): the edges translate for it.',
      from: { path: '^domain/' },
      to: { dependencyTypes: ['npm'], path: '^node_modules/(hono|@hono/|bullmq|@bull-board/)' },
    },
    {
      name: 'wiring-below-the-processes',
      severity: 'error',
      comment:
        'wiring/ composes a process (adapters, resources, start-up, metrics) from domain, queues, db and lib; ' +
        'the API and the workers are built on it, so it imports neither of them.',
      from: { path: '^wiring/' },
      to: { path: `^(api|workers|dashboard|console|${outside})/` },
    },
    {
      name: 'dashboard-knows-no-api',
      severity: 'error',
      comment:
        'The API mounts the queue dashboard and hands it its admin guard and the queues; the dashboard ' +
        'importing API internals back made the two one module.',
      from: { path: '^dashboard/' },
      to: { path: `^(api|workers|console|wiring|${outside})/` },
    },
    {
      name: 'api-not-on-workers',
      severity: 'error',
      comment:
        'The API and the workers are separate processes that meet only through queues and the database; ' +
        'shared start-up code lives in wiring/.',
      from: { path: '^api/' },
      to: { path: `^(workers|console|${outside})/` },
    },
    {
      name: 'workers-not-on-api',
      severity: 'error',
      comment:
        'The API and the workers are separate processes that meet only through queues and the database; ' +
        'shared start-up code lives in wiring/.',
      from: { path: '^workers/' },
      to: { path: `^(api|dashboard|console|${outside})/` },
    },
    {
      name: 'console-is-an-edge',
      severity: 'error',
      comment:
        'An operator console is an edge like the API: it uses the layers below and none of the other edges.',
      from: { path: '^console/' },
      to: { path: `^(api|workers|dashboard|${outside})/` },
    },
    {
      name: 'domain-orders-on-top',
      severity: 'error',
      comment:
        'orders runs the saga and calls the other parts of the domain (fraud, payments, stock, messages); ' +
        'none of them calls back into orders: what they need of an order is a type or a port they own.',
      from: { path: '^domain/(?!orders/)' },
      to: { path: '^domain/orders/' },
    },
    {
      name: 'domain-leaf-folders',
      severity: 'error',
      comment:
        'fraud (model, counters), payments (the gateway port and adapters), inventory, catalog and auth ' +
        'stand alone: orders combines them.',
      from: { path: '^domain/(fraud|payments|inventory|catalog|auth)/' },
      to: { path: '^domain/[^/]+/', pathNot: '^domain/$1/' },
    },
    {
      name: 'domain-notifications-on-users-only',
      severity: 'error',
      comment:
        'Messages need a customer contact (users) and nothing else of the domain; the order outcomes they ' +
        'tell are recorded by orders, which calls notifications.',
      from: { path: '^domain/notifications/' },
      to: { path: '^domain/[^/]+/', pathNot: '^domain/(notifications|users|auth)/' },
    },
    {
      name: 'domain-users-on-auth-only',
      severity: 'error',
      comment: 'Accounts issue tokens (auth); auth knows no accounts table logic.',
      from: { path: '^domain/users/' },
      to: { path: '^domain/[^/]+/', pathNot: '^domain/(users|auth)/' },
    },
    {
      name: 'domain-root-is-shared',
      severity: 'error',
      comment: "domain/'s root files (errors, resilience) are shared by every domain folder and import none.",
      from: { path: '^domain/[^/]+\\.ts$' },
      to: { path: '^domain/[^/]+/' },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '^(node_modules|client/openapi\\.ts|bench/results|deploy|docs)' },
    // Type-only imports count: a cycle through types still ties the two modules together.
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: { extensions: ['.ts', '.js', '.json'] },
  },
};
