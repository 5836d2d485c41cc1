# frozen_string_literal: true

# The soak's job (scripts/soak.ts), loaded into the delayed_job worker of the
# tests with `ruby -r <this file> test/fixtures/delayed_job/worker.rb`. It
# appends "started", "alive" (every 0.2 s) and "finished" lines
# (event label pid epoch-ms) to $JOB_EVENTS: a file, not the database, so that
# a run is recorded whatever the database is doing, and every line proves its
# process was alive and running the job at that moment. Handler YAML:
#   --- !ruby/struct:SoakJob\nlabel: j1\nseconds: 2.5\n
SoakJob = Struct.new(:label, :seconds) do
  def perform
    record("started")
    until_at = Process.clock_gettime(Process::CLOCK_MONOTONIC) + seconds.to_f
    loop do
      left = until_at - Process.clock_gettime(Process::CLOCK_MONOTONIC)
      break if left <= 0
      sleep([left, 0.2].min)
      record("alive")
    end
    record("finished")
  end

  # delayed_job retries a failed job after attempts**4 + 5 s; the soak's database events fail
  # jobs often (a session ended under delayed_job's own queries), and the drain should not
  # wait minutes for a retry, so this job is retried after a second.
  def reschedule_at(now, _attempts)
    now + 1
  end

  def record(event)
    File.open(ENV.fetch("JOB_EVENTS"), "a") do |f|
      f.write("#{event} #{label} #{Process.pid} #{(Time.now.to_f * 1000).round}\n")
    end
  end
end
