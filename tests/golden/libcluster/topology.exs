config :libcluster,
  topologies: [
    meshbeam: [
      strategy: Cluster.Strategy.Epmd,
      config: [
        hosts: [
          :"app@198.18.0.1",
          :"app@198.18.0.2",
          :"web@198.18.0.3"
        ]
      ]
    ]
  ]
