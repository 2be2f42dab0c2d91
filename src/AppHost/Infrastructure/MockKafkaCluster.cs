using System.Runtime.InteropServices;
using System.Text;
using Microsoft.Win32.SafeHandles;

namespace AppHost.Infrastructure;

/// <summary>
/// librdkafka's in-memory Kafka cluster (rdkafka_mock.h), driven through its C API: Kafka-protocol
/// brokers on 127.0.0.1 that other processes use, whose address we are told directly, whose topics we
/// create up front (the mock cluster never answers CreateTopics), and whose brokers tests can take down.
/// </summary>
internal sealed class MockKafkaCluster : IDisposable
{
    /// <summary>The mock cluster numbers its brokers from 1.</summary>
    public const int FirstBrokerId = 1;

    private const string Library = "librdkafka";
    private const int ProducerType = 0; // RD_KAFKA_PRODUCER
    private const int ConfOk = 0; // RD_KAFKA_CONF_OK
    private const int AddressFamilyInet = 2; // AF_INET
    private const int SolSocket = 1; // SOL_SOCKET
    private const int SoAcceptConn = 30; // SO_ACCEPTCONN
    private const int ShutReadWrite = 2; // SHUT_RDWR

    private readonly ClusterHandle _cluster;

    // librdkafka.redist's default librdkafka.so wants libsasl2.so.3, which Debian does not ship; like
    // Confluent.Kafka, fall back to its self-contained centos8 build, so both load the same library.
    static MockKafkaCluster() => NativeLibrary.SetDllImportResolver(typeof(MockKafkaCluster).Assembly, (name, assembly, searchPath) =>
        name != Library ? IntPtr.Zero
        : NativeLibrary.TryLoad(Library, assembly, searchPath, out var handle) || NativeLibrary.TryLoad("centos8-" + Library, assembly, searchPath, out handle) ? handle
        : throw new DllNotFoundException("Neither librdkafka nor centos8-librdkafka from librdkafka.redist could be loaded."));

    private MockKafkaCluster(ClusterHandle cluster)
    {
        _cluster = cluster;
        BootstrapServers = Marshal.PtrToStringUTF8(rd_kafka_mock_cluster_bootstraps(cluster))
            ?? throw new InvalidOperationException("The mock cluster reported no bootstrap servers.");
    }

    public string BootstrapServers { get; }

    public static MockKafkaCluster Start(int brokers)
    {
        // The mock cluster needs a client instance of its own (for its threads and logging): a producer that never sends.
        var conf = rd_kafka_conf_new();
        var error = new byte[512];
        if (rd_kafka_conf_set(conf, "client.id", "apphost-mock-cluster", error, error.Length) != ConfOk
            // Without bootstrap servers the client logs a notice that it cannot connect; it is not meant to.
            || rd_kafka_conf_set(conf, "log_level", "4", error, error.Length) != ConfOk)
        {
            rd_kafka_conf_destroy(conf);
            throw new InvalidOperationException("librdkafka refused the mock cluster's configuration: " + Text(error));
        }

        var client = rd_kafka_new(ProducerType, conf, error, error.Length); // takes ownership of conf on success
        if (client == IntPtr.Zero)
        {
            rd_kafka_conf_destroy(conf);
            throw new InvalidOperationException("librdkafka could not create the mock cluster's client: " + Text(error));
        }

        var cluster = rd_kafka_mock_cluster_new(client, brokers);
        if (cluster == IntPtr.Zero)
        {
            rd_kafka_destroy(client);
            throw new InvalidOperationException("librdkafka could not start a mock cluster.");
        }

        return new MockKafkaCluster(new ClusterHandle(cluster, client));
    }

    public void CreateTopic(string topic, int partitions) =>
        Check(rd_kafka_mock_topic_create(_cluster, topic, partitions, replication_factor: 1), $"create topic {topic}");

    /// <summary>Deletes the topic with its records and its committed offsets.</summary>
    public void DeleteTopic(string topic) => Check(rd_kafka_mock_topic_delete(_cluster, topic), $"delete topic {topic}");

    /// <summary>Closes the broker's connections and refuses new ones until <see cref="SetBrokerUp"/>.</summary>
    public void SetBrokerDown(int brokerId)
    {
        ShutDownConnections(BrokerPort(brokerId));
        Check(rd_kafka_mock_broker_set_down(_cluster, brokerId), $"take broker {brokerId} down");
    }

    public void SetBrokerUp(int brokerId) => Check(rd_kafka_mock_broker_set_up(_cluster, brokerId), $"bring broker {brokerId} up");

    /// <summary>Delays every response of the broker by this round-trip time.</summary>
    public void SetBrokerRoundTripTime(int brokerId, TimeSpan rtt) =>
        Check(rd_kafka_mock_broker_set_rtt(_cluster, brokerId, (int)rtt.TotalMilliseconds), $"set the round-trip time of broker {brokerId}");

    /// <summary>The broker answers the next <paramref name="count"/> requests of this API (e.g. 8, OffsetCommit) with <paramref name="error"/>.</summary>
    public void FailRequests(short apiKey, int count, int error) =>
        Check(rd_kafka_mock_push_request_errors_array(_cluster, apiKey, count, Enumerable.Repeat(error, count).ToArray()), $"fail {count} requests of API {apiKey}");

    public void Dispose()
    {
        foreach (var brokerId in Enumerable.Range(FirstBrokerId, BootstrapServers.Split(',').Length))
        {
            ShutDownConnections(BrokerPort(brokerId));
        }

        _cluster.Dispose();
    }

    /// <summary>The mock cluster lists its brokers' addresses in broker id order.</summary>
    private int BrokerPort(int brokerId) =>
        int.Parse(BootstrapServers.Split(',')[brokerId - FirstBrokerId].Split(':')[^1], System.Globalization.CultureInfo.InvariantCulture);

    /// <summary>
    /// Ends the connections the broker accepted on this port. librdkafka accepts them without
    /// close-on-exec, so every service the AppHost starts afterwards holds a copy of each; the mock's
    /// own close() then leaves them open and its clients wait for request timeouts instead of seeing
    /// the broker go. shutdown() ends the connection itself, whoever holds a descriptor for it.
    /// </summary>
    private static void ShutDownConnections(int port)
    {
        foreach (var entry in Directory.EnumerateFileSystemEntries("/proc/self/fd"))
        {
            if (int.TryParse(Path.GetFileName(entry), out var fd)
                && new FileInfo(entry).LinkTarget is { } target && target.StartsWith("socket:", StringComparison.Ordinal)
                && LocalPort(fd) == port && !IsListening(fd))
            {
                shutdown(fd, ShutReadWrite);
            }
        }
    }

    private static int LocalPort(int fd)
    {
        var address = new byte[128];
        var length = address.Length;
        // sockaddr_in: family (host order), then the port in network order.
        return getsockname(fd, address, ref length) == 0 && BitConverter.ToUInt16(address, 0) == AddressFamilyInet
            ? (address[2] << 8) | address[3]
            : -1;
    }

    private static bool IsListening(int fd)
    {
        int accepting = 0, length = sizeof(int);
        return getsockopt(fd, SolSocket, SoAcceptConn, ref accepting, ref length) == 0 && accepting != 0;
    }

    private static void Check(int error, string what)
    {
        if (error != 0)
        {
            throw new InvalidOperationException($"The mock cluster could not {what}: {Marshal.PtrToStringUTF8(rd_kafka_err2str(error))}.");
        }
    }

    private static string Text(byte[] nulTerminated) =>
        Encoding.UTF8.GetString(nulTerminated, 0, Math.Max(0, Array.IndexOf(nulTerminated, (byte)0)));

    /// <summary>The mock cluster and the client it runs in, destroyed together in that order.</summary>
    private sealed class ClusterHandle : SafeHandleZeroOrMinusOneIsInvalid
    {
        private readonly IntPtr _client;

        public ClusterHandle(IntPtr cluster, IntPtr client) : base(ownsHandle: true)
        {
            _client = client;
            SetHandle(cluster);
        }

        protected override bool ReleaseHandle()
        {
            rd_kafka_mock_cluster_destroy(handle);
            rd_kafka_destroy(_client);
            return true;
        }
    }

    // DllImport rather than LibraryImport: the latter's generated marshalling wants the unsafe-code switch for this project.
#pragma warning disable SYSLIB1054
    [DllImport(Library)]
    private static extern IntPtr rd_kafka_conf_new();

    [DllImport(Library)]
    private static extern int rd_kafka_conf_set(IntPtr conf, [MarshalAs(UnmanagedType.LPUTF8Str)] string name,
        [MarshalAs(UnmanagedType.LPUTF8Str)] string value, byte[] errstr, nint errstr_size);

    [DllImport(Library)]
    private static extern void rd_kafka_conf_destroy(IntPtr conf);

    [DllImport(Library)]
    private static extern IntPtr rd_kafka_new(int type, IntPtr conf, byte[] errstr, nint errstr_size);

    [DllImport(Library)]
    private static extern void rd_kafka_destroy(IntPtr rk);

    [DllImport(Library)]
    private static extern IntPtr rd_kafka_err2str(int err);

    [DllImport(Library)]
    private static extern IntPtr rd_kafka_mock_cluster_new(IntPtr rk, int broker_cnt);

    [DllImport(Library)]
    private static extern void rd_kafka_mock_cluster_destroy(IntPtr mcluster);

    [DllImport(Library)]
    private static extern IntPtr rd_kafka_mock_cluster_bootstraps(ClusterHandle mcluster);

    [DllImport(Library)]
    private static extern int rd_kafka_mock_topic_delete(ClusterHandle mcluster, [MarshalAs(UnmanagedType.LPUTF8Str)] string topic);

    [DllImport(Library)]
    private static extern int rd_kafka_mock_topic_create(ClusterHandle mcluster, [MarshalAs(UnmanagedType.LPUTF8Str)] string topic,
        int partition_cnt, int replication_factor);

    [DllImport(Library)]
    private static extern int rd_kafka_mock_broker_set_down(ClusterHandle mcluster, int broker_id);

    [DllImport(Library)]
    private static extern int rd_kafka_mock_broker_set_up(ClusterHandle mcluster, int broker_id);

    [DllImport(Library)]
    private static extern int rd_kafka_mock_push_request_errors_array(ClusterHandle mcluster, short api_key, nint cnt, int[] errors);

    [DllImport(Library)]
    private static extern int rd_kafka_mock_broker_set_rtt(ClusterHandle mcluster, int broker_id, int rtt_ms);

    [DllImport("libc")]
    private static extern int getsockname(int sockfd, byte[] addr, ref int addrlen);

    [DllImport("libc")]
    private static extern int getsockopt(int sockfd, int level, int optname, ref int optval, ref int optlen);

    [DllImport("libc")]
    private static extern int shutdown(int sockfd, int how);
#pragma warning restore SYSLIB1054
}
