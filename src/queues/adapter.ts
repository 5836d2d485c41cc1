import type { Client } from "../postgres/client.js";
import type { DeadProcess } from "../process-tree/tree-history.js";

/**
 * What one queue knows: how a dead worker's claims are found and handed back.
 * Everything queue-specific lives behind this seam, one folder a queue; the
 * release, the leases and the commands are written against it alone.
 */
export interface QueueAdapter {
  /** Runs on each new connection of the release, before its first use (the sql queue prepares its statement there). */
  prepare?(client: Client): Promise<void>;
  /**
   * The backends of the dead worker's sessions that carry no jobguard tag
   * (Que's locker names its own session), for jobguard to end with the tagged ones.
   */
  sessions?(client: Client, worker: DeadWorker): Promise<number[]>;
  /** After the kill and the end of its sessions: hands back what the dead processes of this worker tree held. */
  release(client: Client, worker: DeadWorker, counting?: RescueCounting): Promise<Released>;
  /** For `jobguard check`: writes what it finds; resolves the number of problems. */
  check(client: Client, out: (line: string) => void, host: CheckHost): Promise<number>;
  /**
   * The queue's tables that the release and the rescue read or write, and what
   * they do there: `jobguard check` and `jobguard rescue` find a missing table
   * or privilege before a release does.
   */
  tables: readonly TableUse[];
  /** Present when the queue takes part in leases and sweeps. */
  rescue?: RescueSupport;
}

/** A privilege on a table, as PostgreSQL's GRANT names it. */
export type Privilege = "SELECT" | "INSERT" | "UPDATE" | "DELETE";

/** One table a queue's release or rescue uses. */
export interface TableUse {
  /** Quoted, as the queue's statements name it. */
  table: string;
  /** What it is, for a sentence: "delayed_job's jobs table". */
  what: string;
  /** What the release and the rescue do there; none: they only need it to exist. */
  privileges: readonly Privilege[];
}

/** The evidence of a worker tree's death that a release may act on. */
export interface DeadWorker {
  /** This host's name, as os.hostname() (and Ruby's Socket.gethostname) give it. */
  host: string;
  /** The tree's dead processes; a pid a newer process took carries the time that process started. */
  dead: readonly DeadProcess[];
}

/** What `jobguard check` tells an adapter of the host it runs on, to mark the claims of this host's gone processes. */
export interface CheckHost {
  /** This host's name, as os.hostname() gives it. */
  name: string;
  /** Whether a process with this pid runs on this host now. */
  isRunning(pid: number): boolean;
}

/** What a release or a rescue did. */
export interface Released {
  /** Rows handed back; the ids where the queue has them. */
  count: number;
  ids: string[];
  /** Jobs marked failed instead, rescued more than max-rescues times (counted releases only). */
  failed?: string[];
}

/**
 * Counting rescues: a job that keeps killing its worker (dyno or process) is
 * marked failed after max-rescues rather than crash-loop the fleet.
 */
export interface RescueCounting {
  /** jobguard's table of rescue counts, quoted: (job_table, job_id, rescues, last_rescued_at). */
  countsTable: string;
  maxRescues: number;
}

/** A dead process of a stale lease that no live lease of its host claims. */
export interface DeadLeasePid {
  lease: string;
  host: string;
  pid: number;
}

/** What a queue with leases adds. */
export interface RescueSupport {
  /** Of these dead pids of this host, those under which the queue still holds claims. */
  holding(client: Client, host: string, pids: readonly number[]): Promise<Set<number>>;
  /**
   * In a sweep's transaction: hands back the claims of these dead processes
   * that are older than olderThanMs (the dead leases' stale-after: a younger
   * one was taken by a process their leases did not know), counting each as a rescue.
   */
  rescue(
    client: Client,
    dead: readonly DeadLeasePid[],
    olderThanMs: number,
    counting: RescueCounting,
  ): Promise<Released>;
  /** The leases among `dead` that still hold claims: they stay until those claims are old enough. */
  stillHolding(client: Client, dead: readonly DeadLeasePid[]): Promise<Set<string>>;
  /** Forgets the rescue counts of jobs that no longer exist. */
  forgetCounts(client: Client, countsTable: string): Promise<void>;
}
