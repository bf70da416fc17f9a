%% meshbeam_dist: Erlang distribution over TCP (inet_tcp_dist) that binds a node's name
%% to the address its connection comes from.
%%
%% Started with `-proto_dist meshbeam -pa DIR` (OTP maps the protocol `meshbeam` to the
%% module `meshbeam_dist`). Every callback is inet_tcp_dist's, except accept_connection/5.
%%
%% Why: dist_util checks the name a peer claims against the allow list, never the address
%% the connection comes from, so anyone holding the cookie can claim a listed name; and an
%% allow list set by `-eval "net_kernel:allow(...)"` only applies once that expression has
%% run, after distribution is already listening. On a WireGuard mesh each peer owns one
%% /32 and the tunnel authenticates the source address of every packet, so requiring the
%% host part of the claimed name to be the connection's source address binds the name to
%% that peer's key. The allowed names are read from a file at every accepted connection,
%% so they apply from the first connection at boot, and a member removed from the file is
%% refused from its next connection on, without a restart.
%%
%% The allowed file (default /etc/meshbeam/allowed, or `-meshbeam allowed_file PATH`) holds
%% one full node name per line, NAME@IPADDRESS, the address written as inet:ntoa/1 writes
%% it. Blank lines and lines starting with # are ignored; a name whose host part is not an
%% address never matches (a DNS name is not bound to a key). A missing or unreadable file
%% refuses every incoming connection.
%%
%% Outgoing connections, EPMD-less mode (-start_epmd false -erl_epmd_port P), hidden nodes
%% and -dist_listen false nodes behave exactly as with inet_tcp_dist.
%%
%% meshbeam_dist:refused() lists refused connection attempts as {ClaimedName, SourceIP, Count}.
-module(meshbeam_dist).

%% Distribution callbacks (the public API of inet_tcp_dist on OTP 25 to 27).
-export([listen/1, listen/2, accept/1, accept_connection/5, setup/5, close/1,
         select/1, address/0, is_node_name/1, setopts/2, getopts/2]).
-export([refused/0]).
%% A logger handler: the only place where the name a refused peer claimed can be seen.
-export([log/2]).
%% The process that owns the table of pending and refused connections.
-export([holder/2]).

-define(TABLE, meshbeam_dist).
-define(HOLDER, meshbeam_dist).
-define(DEFAULT_FILE, "/etc/meshbeam/allowed").
%% An allow list entry that admits nobody: '@' splits into an empty name and an empty host,
%% so dist_util matches it against no name, and a peer cannot claim it (dist_util refuses a
%% claimed name with an empty part). An empty list would allow everyone.
-define(NOBODY, '@').
%% Refused names are attacker-chosen: bound what one peer can make this node store.
-define(MAX_ROWS, 1000).
%% The longest node name kept or logged (an atom holds at most 255 characters).
-define(MAX_NAME, 255).

listen(Name) -> inet_tcp_dist:listen(Name).
listen(Name, Host) -> inet_tcp_dist:listen(Name, Host).
accept(Listen) -> inet_tcp_dist:accept(Listen).
setup(Node, Type, MyNode, LongOrShortNames, SetupTime) ->
    inet_tcp_dist:setup(Node, Type, MyNode, LongOrShortNames, SetupTime).
close(Socket) -> inet_tcp_dist:close(Socket).
select(Node) -> inet_tcp_dist:select(Node).
address() -> inet_tcp_dist:address().
is_node_name(Node) -> inet_tcp_dist:is_node_name(Node).
setopts(S, Opts) -> inet_tcp_dist:setopts(S, Opts).
getopts(S, Opts) -> inet_tcp_dist:getopts(S, Opts).

%% Runs in the net_kernel process, for every incoming connection: keep it small and never
%% let it crash (a crash here would take distribution down).
%%
%% net_kernel's own list (Allowed, from net_kernel:allow/1) is intersected with the file's,
%% not ignored: a name must be on both to be let in. Whoever set that list meant to narrow
%% who may connect; dropping it would widen access behind their back. Names are compared
%% exactly there (dist_util would also accept host-only entries): stricter, never wider.
accept_connection(AcceptPid, Socket, MyNode, Allowed, SetupTime) ->
    ensure_holder(),
    {IP, Names} = try allowed_for(Socket, Allowed)
                  catch Class:Reason ->
                          logger:error("meshbeam_dist: refusing a connection: ~p:~p", [Class, Reason]),
                          {undefined, [?NOBODY]}
                  end,
    Pid = inet_tcp_dist:accept_connection(AcceptPid, Socket, MyNode, Names, SetupTime),
    watch(Pid, IP, Names),
    Pid.

%% [{ClaimedName, SourceIP, Count}] of refused connection attempts since the first
%% connection this node accepted.
-spec refused() -> [{binary(), inet:ip_address(), pos_integer()}].
refused() ->
    try ets:match(?TABLE, {{refused, '$1', '$2'}, '$3'}) of
        Rows -> lists:sort([{Name, IP, Count} || [Name, IP, Count] <- Rows])
    catch error:badarg -> []
    end.

%% --- the allow list for one connection -------------------------------------------------

allowed_for(Socket, KernelAllowed) ->
    case inet:peername(Socket) of
        {ok, {IP, _Port}} -> {IP, narrow(IP, read_lines(), KernelAllowed)};
        {error, _} -> {undefined, [?NOBODY]}
    end.

narrow(IP, Lines, KernelAllowed) ->
    %% The host part is compared as text with the address's canonical form (what meshbeam
    %% writes): cheaper than parsing every line, and a differently written address only
    %% fails to match.
    Host = list_to_binary(inet:ntoa(IP)),
    Names = [binary_to_atom(L, latin1) || L <- Lines, host_is(L, Host)],
    case [N || N <- Names, KernelAllowed =:= [] orelse lists:member(N, KernelAllowed)] of
        [] -> [?NOBODY];
        Mine -> Mine
    end.

host_is(Line, Host) ->
    case binary:split(Line, <<"@">>, [global]) of
        [Name, Host] -> Name =/= <<>>;
        _ -> false
    end.

%% The names of the allowed file, one a line; a line of several words is ignored.
read_lines() ->
    File = allowed_file(),
    case file:read_file(File) of
        {ok, Bin} ->
            table_op(fun() -> ets:delete(?TABLE, file_error) end),
            [Name || Line <- binary:split(Bin, <<"\n">>, [global]),
                     [Name] <- [binary:split(Line, [<<" ">>, <<"\t">>, <<"\r">>], [global, trim_all])],
                     binary:first(Name) =/= $#, byte_size(Name) =< ?MAX_NAME];
        {error, Reason} ->
            %% Logged once until the file is readable again: a connection loop must not
            %% flood the log.
            case table_op(fun() -> ets:insert_new(?TABLE, {file_error, Reason}) end) of
                false -> ok;
                _ -> logger:error("meshbeam_dist: cannot read ~ts (~p): refusing every "
                                  "incoming connection", [File, Reason])
            end,
            []
    end.

allowed_file() ->
    case init:get_argument(meshbeam) of
        {ok, Args} ->
            case [Path || ["allowed_file", Path | _] <- Args] of
                [Path | _] -> Path;
                [] -> ?DEFAULT_FILE
            end;
        error -> ?DEFAULT_FILE
    end.

%% --- refusals: counted and logged with the claimed name and the real source ------------
%%
%% The claimed name is only known inside dist_util's handshake, which logs it when it
%% refuses ("Connection attempt from disallowed node NAME"). The handler below sees that
%% event in the handshake process itself, so it can tell which connection it belongs to.

%% The table and its owner must outlive net_kernel (which may restart): the owner is a
%% plain process, started unlinked from the first accept_connection.
ensure_holder() ->
    case whereis(?HOLDER) of
        undefined ->
            Ref = make_ref(),
            Pid = spawn(?MODULE, holder, [self(), Ref]),
            MRef = monitor(process, Pid),
            receive
                {Ref, ready} -> demonitor(MRef, [flush]);
                {'DOWN', MRef, process, Pid, _} -> ok
            end;
        _ -> ok
    end.

%% Replies once the table and the handler are in place, so that even the first connection's
%% refusal is counted; it either gets there at once or crashes (a 'DOWN' for the waiter).
holder(Parent, Ref) ->
    true = register(?HOLDER, self()),
    ?TABLE = ets:new(?TABLE, [named_table, public, set]),
    _ = logger:add_handler(?MODULE, ?MODULE, #{level => error}),
    Parent ! {Ref, ready},
    holder_loop().

holder_loop() ->
    receive
        {watch, Pid} ->
            _ = monitor(process, Pid);
        {'DOWN', _, process, Pid, _} ->
            ets:delete(?TABLE, {pending, Pid});
        {refused, Name, IP} ->
            logger:warning("meshbeam_dist: refused ~ts from ~ts", [Name, inet:ntoa(IP)]);
        _ ->
            ok
    end,
    holder_loop().

%% Remember which source address and names the handshake Pid was given, until it ends.
%% The entry is in the table before the handshake can start: net_kernel hands the socket
%% over only after accept_connection/5 returns.
watch(_Pid, undefined, _Names) -> ok;
watch(Pid, IP, Names) ->
    table_op(fun() -> ets:insert(?TABLE, {{pending, Pid}, IP, Names}) end),
    case whereis(?HOLDER) of
        undefined -> ok;
        Holder -> Holder ! {watch, Pid}
    end.

%% Logger handler callback; runs in the process that logs, for every event at level error
%% or above. It must be cheap and must never crash (logger would remove it).
log(#{msg := Msg}, _Config) ->
    try
        case ets:lookup(?TABLE, {pending, self()}) of
            [{_, IP, Names}] -> note(claimed_name(Msg), IP, Names);
            [] -> ok
        end
    catch _:_ -> ok
    end;
log(_, _) -> ok.

claimed_name({report, #{format := Format, args := [Name]}}) -> claimed_name({Format, [Name]});
claimed_name({Format, [Name]}) when is_list(Format) ->
    case string:find(Format, "disallowed node") of
        nomatch -> none;
        _ when is_atom(Name) -> atom_to_binary(Name, latin1);
        _ when is_list(Name) -> list_to_binary(Name)
    end;
claimed_name(_) -> none.

%% A name that was on this connection's list was not refused for its name (dist_util also
%% says "disallowed node" for a wrong cookie): only the others count.
note(none, _IP, _Names) -> ok;
note(Claimed, IP, Names) ->
    case lists:member(Claimed, [atom_to_binary(N, latin1) || N <- Names]) of
        true -> ok;
        false ->
            Name = printable(Claimed),
            Key = case ets:member(?TABLE, {refused, Name, IP})
                      orelse ets:info(?TABLE, size) < ?MAX_ROWS of
                      true -> {refused, Name, IP};
                      false -> {refused, <<"(other names)">>, IP}
                  end,
            _ = ets:update_counter(?TABLE, Key, 1, {Key, 0}),
            ?HOLDER ! {refused, Name, IP},
            ok
    end.

%% The claimed name goes into logs: no control characters, bounded length.
printable(Bin) ->
    Short = binary:part(Bin, 0, min(byte_size(Bin), ?MAX_NAME)),
    << <<(if C > 32, C < 127 -> C; true -> $? end)>> || <<C>> <= Short >>.

%% The table is gone only if its owner died; counting is best effort, the check is not.
table_op(Fun) ->
    try Fun() catch error:badarg -> undefined end.
