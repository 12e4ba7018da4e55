(function(){
  var argoSel=document.getElementById('argo-filter'), hostSel=document.getElementById('host-filter');
  var data=JSON.parse(document.getElementById('node-data').getAttribute('data-nodes'));
  var hostNotice=document.getElementById('host-notice'), emptyNotice=document.getElementById('empty-notice');
  var input=document.getElementById('node-input'), answer=document.getElementById('node-answer');
  function say(el,text){el.textContent=text; el.hidden=!text;}
  function column(text){
    var v=(text||'').trim(), low=v.toLowerCase(), label=data.label+'=';
    if(low.indexOf(label)===0){v=v.slice(label.length); low=v.toLowerCase();}
    if(Object.prototype.hasOwnProperty.call(data.spellings,low)){return {column:data.spellings[low]};}
    if(Object.prototype.hasOwnProperty.call(data.older,low)){return {build:data.older[low]};}
    var m=/^10\.0\.(\d{1,6})(\.\d{1,7})?$/.exec(v);
    if(!m){return null;}
    var build=parseInt(m[1],10);
    for(var i=0;i<data.columns.length;i++){if(data.columns[i].build===build){return {column:data.columns[i].name};}}
    return {build:build};
  }
  function apply(){
    var argo=argoSel.value, host=hostSel.value, shown=0;
    document.querySelectorAll('section[data-argo]').forEach(function(s){
      s.hidden = argo!=='all' && s.getAttribute('data-argo')!==argo;});
    document.querySelectorAll('[data-host]').forEach(function(c){
      c.hidden = host!=='all' && c.getAttribute('data-host')!==host;});
    document.querySelectorAll('section[data-argo]').forEach(function(s){
      if(!s.hidden){shown+=s.querySelectorAll('td.cell:not([hidden])').length;}});
    say(emptyNotice, shown ? '' : 'No image matches these filters: choose another Argo version or host.');
    var parts=[]; if(argo!=='all'){parts.push('argo='+encodeURIComponent(argo));}
    if(host!=='all'){parts.push('host='+encodeURIComponent(host));}
    history.replaceState(null,'',parts.length?'#'+parts.join('&'):location.pathname);
  }
  function has(sel,value){return Array.prototype.some.call(sel.options,function(o){return o.value===value;});}
  function fromHash(){
    var problems=[];
    argoSel.value='all'; hostSel.value='all';
    location.hash.replace(/^#/,'').split('&').forEach(function(kv){
      if(!kv){return;}
      var p=kv.split('='), value=decodeURIComponent(p.slice(1).join('='));
      if(p[0]==='argo'){
        if(has(argoSel,value)){argoSel.value=value;}
        else{problems.push('Argo version "'+value+'" is not in this table (it has '+data.argo.join(', ')+')');}
      }
      if(p[0]==='host'){
        var found=column(value);
        input.value=value; answerNode();
        if(found&&found.column){hostSel.value=found.column;}
        else if(found&&found.build<data.oldest){problems.push(notSupported(found.build));}
        else if(found){problems.push('host "'+value+'" (build '+found.build+') has no column; '+rule(found.build));}
        else{problems.push('host "'+value+'" is unknown; use a column ('+data.columns.map(function(c){
          return c.name;}).join(', ')+'), an alias such as 2019 or ltsc2022, or a build such as 10.0.17763');}
      }});
    say(hostNotice, problems.length ? 'Showing all: '+problems.join('; ')+'.' : '');
  }
  function nearest(build){
    var older=data.columns.filter(function(c){return c.build<=build;}), pool=older.length?older:data.columns;
    return pool.reduce(function(a,b){return Math.abs(build-b.build)<Math.abs(build-a.build)?b:a;});
  }
  function rule(build){
    var ltsc=data.stable_abi, near=nearest(build), text;
    if(!ltsc.length||build<ltsc[0]){
      text='before 10.0.'+ltsc[0]+' process isolation needs the node\'s own build: containerd takes only an entry '+
        'of build '+build+', Docker Engine the first entry not newer than the node (Hyper-V isolation only)';
    } else {
      var floor=ltsc.filter(function(b){return b<build;}).pop()||ltsc[0];
      text='from 10.0.'+ltsc[0]+' on, process isolation runs images of builds '+floor+' to '+build+
        ' (hcsshim\'s stable-ABI window); containerd takes the newest entry in it, Docker Engine the first entry '+
        'not newer than the node';
    }
    return text+'; the nearest column is '+near.name+' ('+near.label+', 10.0.'+near.build+')';
  }
  function notSupported(build){
    var name=data.older_names[String(build)];
    return (name?name+' (10.0.'+build+')':'10.0.'+build)+': not supported: no nanoserver of this table runs there '+
      '(the oldest is 10.0.'+data.oldest+'; Windows runs no image newer than its host)';
  }
  function answerNode(){
    var found=column(input.value);
    answer.hidden=false;
    if(!found){answer.textContent='"'+input.value+'" is not a Windows node: give a build (10.0.17763), the value of '+
      'the node\'s '+data.label+' label, or a release (2019, ltsc2022, win11).'; return;}
    if(found.column){answer.textContent=data.answers[found.column]; return;}
    if(found.build<data.oldest){answer.textContent=notSupported(found.build)+'.'; return;}
    var near=nearest(found.build);
    answer.textContent='10.0.'+found.build+' is no column of this table: '+rule(found.build)+
      '. Run invoke which --node 10.0.'+found.build+' for the full answer. The nearest column answers:\n\n'+
      data.answers[near.name];
  }
  document.getElementById('node-go').addEventListener('click',answerNode);
  input.addEventListener('keydown',function(e){if(e.key==='Enter'){answerNode();}});
  argoSel.addEventListener('change',function(){say(hostNotice,''); apply();});
  hostSel.addEventListener('change',function(){say(hostNotice,''); apply();
    if(hostSel.value!=='all'){input.value=hostSel.value; answerNode();}});
  window.addEventListener('hashchange',function(){fromHash(); apply();});
  fromHash(); apply();
})();
