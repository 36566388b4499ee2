import { overloaded, shuttingDown, type CaptionScheduler, type Place } from './caption-scheduler.js';

export interface AdmissionLimits {
  /** Uploads read at the same time; more wait at the door, their bodies unread. */
  maxReading: number;
  /** How long a request may wait at the door for a place before it is refused (503); 0 refuses at once. */
  admissionWaitMs: number;
}

/** A request let in: it holds a place in the queue and, until its body is read, an upload slot. */
export interface Ticket {
  readonly place: Place;
  /** The body is read: frees the upload slot. */
  doneReading(): void;
  /** The request is answered or gone: frees whatever it still holds (idempotent). */
  leave(): void;
}

interface Waiter {
  admit: (ticket: Ticket) => void;
  refuse: (error: Error) => void;
}

/**
 * The server's front door, decided from a request's headers alone: a request is let in only when the
 * queue has a place for it (reserved before its body is read, so no upload is read only to be refused)
 * and fewer than `maxReading` uploads are being read. Otherwise it waits at the door with its body
 * unread (the socket is paused, so it costs no CPU and little memory), newest first, and is refused
 * with 503 after `admissionWaitMs`.
 *
 * Why wait at all rather than refuse at once: clients that retry at once (load generators, naive
 * scripts) turn instant 503s into a storm of uploads that takes the CPU the captions need; a short wait
 * bounds the refusals to one per connection per `admissionWaitMs`. Why newest first: under sustained overload
 * the requests that get in are answered quickly instead of all of them waiting the longest (the
 * "adaptive LIFO" of overloaded RPC servers); the oldest are the ones refused.
 */
export class Admission {
  private reading = 0;
  private readonly door: Waiter[] = [];
  private closed = false;

  constructor(
    private readonly scheduler: CaptionScheduler,
    private readonly limits: AdmissionLimits,
  ) {
    scheduler.onFree = () => this.pump();
  }

  get stats(): { reading: number; atDoor: number } {
    return { reading: this.reading, atDoor: this.door.length };
  }

  /**
   * Waits for a place and an upload slot; rejects with OVERLOADED after admissionWaitMs. (A client that
   * goes away at the door keeps its spot until then: it holds nothing meanwhile.)
   */
  enter(): Promise<Ticket> {
    if (this.closed) return Promise.reject(shuttingDown());
    const ticket = this.tryAdmit();
    if (ticket) return Promise.resolve(ticket);
    if (this.limits.admissionWaitMs <= 0) return Promise.reject(overloaded());
    return new Promise((resolve, reject) => {
      const settle = () => {
        clearTimeout(timer);
        const at = this.door.indexOf(waiter);
        if (at >= 0) this.door.splice(at, 1);
      };
      const waiter: Waiter = {
        admit: (ticket) => {
          settle();
          resolve(ticket);
        },
        refuse: (error) => {
          settle();
          reject(error);
        },
      };
      const timer = setTimeout(() => waiter.refuse(overloaded()), this.limits.admissionWaitMs);
      this.door.push(waiter);
    });
  }

  /** Refuses everyone at the door and anyone who comes later (the server is closing). */
  close(): void {
    this.closed = true;
    for (const waiter of [...this.door]) waiter.refuse(shuttingDown());
  }

  private tryAdmit(): Ticket | undefined {
    if (this.reading >= this.limits.maxReading) return undefined;
    const place = this.scheduler.reserve();
    if (!place) return undefined;
    this.reading++;
    let reading = true;
    const doneReading = () => {
      if (!reading) return;
      reading = false;
      this.reading--;
      this.pump();
    };
    return {
      place,
      doneReading,
      leave: () => {
        doneReading();
        place.release();
      },
    };
  }

  private pump(): void {
    while (this.door.length > 0) {
      const ticket = this.tryAdmit();
      if (!ticket) return;
      this.door.at(-1)!.admit(ticket);
    }
  }
}
