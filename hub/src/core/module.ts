/** A feature of the hub. Constructors do no I/O; `stop()` undoes everything `start()` made. */
export interface HubModule {
  readonly name: string;
  start(): Promise<void> | void;
  stop(): Promise<void> | void;
}
